package org.offload4j.cuda.driver.jcuda;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import org.offload4j.cuda.driver.DeviceAttribute;
import org.offload4j.cuda.driver.FunctionAttribute;

/**
 * The numbers of the interface's attribute enums in JCuda's constant classes
 * ({@code jcuda.driver.CUdevice_attribute}, {@code CUfunction_attribute}), found by reflection on
 * the field whose name is the C enumerator, so that no number is typed here. Reading these
 * classes loads no native code: the mapping can be checked where no driver exists.
 */
final class JCudaConstants {
    private static final int[] DEVICE_ATTRIBUTES = map(jcuda.driver.CUdevice_attribute.class,
            enumNames(DeviceAttribute.values()));
    private static final int[] FUNCTION_ATTRIBUTES = map(jcuda.driver.CUfunction_attribute.class,
            enumNames(FunctionAttribute.values()));

    private JCudaConstants() {
    }

    static int of(DeviceAttribute a) {
        return DEVICE_ATTRIBUTES[a.ordinal()];
    }

    static int of(FunctionAttribute a) {
        return FUNCTION_ATTRIBUTES[a.ordinal()];
    }

    private static String[] enumNames(DeviceAttribute[] values) {
        String[] names = new String[values.length];
        for (DeviceAttribute a : values) {
            names[a.ordinal()] = a.cName();
        }
        return names;
    }

    private static String[] enumNames(FunctionAttribute[] values) {
        String[] names = new String[values.length];
        for (FunctionAttribute a : values) {
            names[a.ordinal()] = a.cName();
        }
        return names;
    }

    /**
     * The value of the {@code public static final int} field named {@code names[i]} of {@code holder}.
     *
     * @throws NoSuchFieldError naming every C name the JCuda version on the class path lacks (a
     *                          packaging problem, hence a linkage error, not a hardware limit)
     */
    static int[] map(Class<?> holder, String[] names) {
        int[] values = new int[names.length];
        List<String> missing = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            try {
                Field f = holder.getField(names[i]);
                if (f.getType() != int.class || !Modifier.isStatic(f.getModifiers())) {
                    missing.add(names[i]);
                    continue;
                }
                values[i] = f.getInt(null);
            } catch (NoSuchFieldException | IllegalAccessException e) {
                missing.add(names[i]);
            }
        }
        if (!missing.isEmpty()) {
            throw new NoSuchFieldError(holder.getName() + " of the JCuda on the class path has no " + missing
                    + "; JCuda " + JCudaDriver.JCUDA_VERSION + " or later is needed");
        }
        return values;
    }
}
