package org.offload4j.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Line2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Throughput against size: one panel per op, one line per backend·dtype series, the copy
 * bandwidth floor as a dashed line. Written as SVG (by hand, no dependency) or PNG (Java2D),
 * chosen by the file extension; both go through the same {@link Canvas} so they look alike.
 */
public final class Plots {
    private Plots() {}

    private static final int PANEL_W = 720;
    private static final int PANEL_H = 300;
    private static final int LEFT = 70;
    private static final int RIGHT = 170;
    private static final int TOP = 36;
    private static final int BOTTOM = 44;
    // Colours as 0xRRGGBB: no java.awt type outside Png, so that SVG plots need no java.desktop
    // module (the offload bundle's jlink runtime leaves it out: 20 MB).
    private static final int[] PALETTE = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd, 0xff7f0e, 0x8c564b};
    private static final int BLACK = 0x000000;
    private static final int DARK_GRAY = 0x404040;
    private static final int GRAY = 0x808080;

    /**
     * Throws IllegalArgumentException when {@link #write} would refuse {@code file}: a name not ending
     * in {@code .svg} or {@code .png}, or PNG in a runtime without {@code java.desktop}.
     */
    public static void checkFileName(Path file) {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".png")) {
            // Checked before Png links: verifying Png loads java.awt classes.
            if (ModuleLayer.boot().findModule("java.desktop").isEmpty()) {
                throw new IllegalArgumentException("--plot " + file + ": PNG needs the java.desktop module, which this "
                        + "Java runtime lacks (the offload bundle leaves it out); write .svg instead");
            }
        } else if (!name.endsWith(".svg")) {
            throw new IllegalArgumentException("--plot " + file + ": the file name must end in .svg or .png");
        }
    }

    /** Writes the plot; the format follows the extension ({@code .svg} or {@code .png}, see {@link #checkFileName}). */
    public static void write(Path file, List<BenchResult> results) throws IOException {
        checkFileName(file);
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        Map<String, List<BenchResult>> byOp = new LinkedHashMap<>();
        for (BenchResult r : results) {
            if (r.runs() > 0) { // a case that failed to run has no point to plot
                byOp.computeIfAbsent(r.op(), k -> new ArrayList<>()).add(r);
            }
        }
        int height = Math.max(1, byOp.size()) * PANEL_H;
        if (name.endsWith(".svg")) {
            SvgCanvas c = new SvgCanvas(PANEL_W, height);
            draw(c, byOp);
            Files.writeString(file, c.finish(), StandardCharsets.UTF_8);
        } else {
            Png.write(file, height, byOp);
        }
    }

    /** PNG through Java2D, kept apart so that the rest of Plots links without java.desktop. */
    private static final class Png {
        static void write(Path file, int height, Map<String, List<BenchResult>> byOp) throws IOException {
            BufferedImage img = new BufferedImage(PANEL_W, height, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = img.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, PANEL_W, height);
            draw(new Java2dCanvas(g), byOp);
            g.dispose();
            ImageIO.write(img, "png", file.toFile());
        }
    }

    private static void draw(Canvas c, Map<String, List<BenchResult>> byOp) {
        int panel = 0;
        for (Map.Entry<String, List<BenchResult>> e : byOp.entrySet()) {
            drawPanel(c, panel++ * PANEL_H, e.getKey(), e.getValue());
        }
    }

    private static void drawPanel(Canvas c, int y0, String op, List<BenchResult> rs) {
        double xMin = Double.MAX_VALUE;
        double xMax = -Double.MAX_VALUE;
        double yMax = 0;
        for (BenchResult r : rs) {
            double x = log2(r.sizeMetric());
            xMin = Math.min(xMin, x);
            xMax = Math.max(xMax, x);
            yMax = Math.max(yMax, Math.max(r.gigabytesPerSecond(), r.copyBytesPerSecond() / 1e9));
        }
        if (xMax - xMin < 1) {
            xMin -= 0.5;
            xMax += 0.5;
        }
        yMax *= 1.1;
        int plotW = PANEL_W - LEFT - RIGHT;
        int plotH = PANEL_H - TOP - BOTTOM;
        double fxMin = xMin;
        double fxMax = xMax;
        double fyMax = yMax;
        java.util.function.DoubleUnaryOperator px = x -> LEFT + (x - fxMin) / (fxMax - fxMin) * plotW;
        java.util.function.DoubleUnaryOperator py = y -> y0 + TOP + plotH - y / fyMax * plotH;

        c.text(LEFT, y0 + 22, op + ": throughput vs size", BLACK, 14);
        c.line(LEFT, y0 + TOP + plotH, LEFT + plotW, y0 + TOP + plotH, BLACK, false);
        c.line(LEFT, y0 + TOP, LEFT, y0 + TOP + plotH, BLACK, false);
        for (int i = 0; i <= 4; i++) {
            double v = fyMax * i / 4;
            double y = py.applyAsDouble(v);
            c.line(LEFT - 4, y, LEFT + plotW, y, 0xdddddd, false);
            c.text(8, y + 4, String.format(Locale.ROOT, "%.1f", v), DARK_GRAY, 11);
        }
        for (int e = (int) Math.ceil(xMin); e <= Math.floor(xMax); e++) {
            double x = px.applyAsDouble(e);
            c.line(x, y0 + TOP + plotH, x, y0 + TOP + plotH + 4, BLACK, false);
            c.text(x - 10, y0 + TOP + plotH + 17, "2^" + e, DARK_GRAY, 11);
        }
        c.text(LEFT + plotW / 2.0 - 40, y0 + PANEL_H - 8, "size (log2)", DARK_GRAY, 11);
        c.text(8, y0 + TOP - 8, "GB/s", DARK_GRAY, 11);

        Map<String, List<BenchResult>> series = new LinkedHashMap<>();
        Map<String, Double> floors = new LinkedHashMap<>();
        for (BenchResult r : rs) {
            series.computeIfAbsent(r.backend() + " " + r.dtype() + variant(r.label()), k -> new ArrayList<>()).add(r);
            floors.putIfAbsent(r.backend(), r.copyBytesPerSecond() / 1e9);
        }
        int legend = 0;
        int colour = 0;
        for (Map.Entry<String, Double> f : floors.entrySet()) {
            double y = py.applyAsDouble(f.getValue());
            c.line(LEFT, y, LEFT + plotW, y, GRAY, true);
            c.text(LEFT + plotW + 8, y0 + TOP + 14 * legend++ + 4, "- - " + f.getKey() + " copy bw", GRAY, 11);
        }
        for (Map.Entry<String, List<BenchResult>> s : series.entrySet()) {
            int col = PALETTE[colour++ % PALETTE.length];
            List<BenchResult> pts = new ArrayList<>(s.getValue());
            pts.sort(java.util.Comparator.comparingDouble(BenchResult::sizeMetric));
            for (int i = 0; i < pts.size(); i++) {
                double x = px.applyAsDouble(log2(pts.get(i).sizeMetric()));
                double y = py.applyAsDouble(pts.get(i).gigabytesPerSecond());
                c.dot(x, y, col);
                if (i > 0) {
                    c.line(px.applyAsDouble(log2(pts.get(i - 1).sizeMetric())),
                            py.applyAsDouble(pts.get(i - 1).gigabytesPerSecond()), x, y, col, false);
                }
            }
            c.text(LEFT + plotW + 8, y0 + TOP + 14 * legend++ + 4, "— " + s.getKey(), col, 11);
        }
    }

    /**
     * The part of a case's label that makes it a line of its own: in-place Hadamard cases,
     * prepared MoE layers, causal attention and attention over KV caches sit at the same sizes as
     * the out-of-place, unprepared, full and compact ones, so one line through both would zigzag.
     */
    static String variant(String label) {
        if (label.endsWith(HadamardSuite.IN_PLACE_LABEL)) {
            return HadamardSuite.IN_PLACE_LABEL;
        }
        if (label.endsWith(MoeSuite.PREPARED_LABEL)) {
            return MoeSuite.PREPARED_LABEL;
        }
        String causal = label.contains(AttentionSuite.CAUSAL_LABEL) ? AttentionSuite.CAUSAL_LABEL : "";
        return label.contains(AttentionSuite.CACHE_LABEL) ? causal + " KV cache" : causal;
    }

    private static double log2(double v) {
        return Math.log(Math.max(v, 1e-300)) / Math.log(2);
    }

    private interface Canvas {
        void line(double x1, double y1, double x2, double y2, int c, boolean dashed);

        void dot(double x, double y, int c);

        void text(double x, double y, String s, int c, int size);
    }

    private static final class SvgCanvas implements Canvas {
        private final StringBuilder sb = new StringBuilder();

        SvgCanvas(int w, int h) {
            sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                    + "font-family=\"sans-serif\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n", w, h));
        }

        @Override
        public void line(double x1, double y1, double x2, double y2, int c, boolean dashed) {
            sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    + "stroke-width=\"1.5\"%s/>%n", x1, y1, x2, y2, hex(c), dashed ? " stroke-dasharray=\"6,4\"" : ""));
        }

        @Override
        public void dot(double x, double y, int c) {
            sb.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n", x, y, hex(c)));
        }

        @Override
        public void text(double x, double y, String s, int c, int size) {
            String escaped = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" fill=\"%s\">%s</text>%n",
                    x, y, size, hex(c), escaped));
        }

        String finish() {
            return sb.append("</svg>\n").toString();
        }

        private static String hex(int rgb) {
            return String.format(Locale.ROOT, "#%06x", rgb & 0xffffff);
        }
    }

    private static final class Java2dCanvas implements Canvas {
        private final Graphics2D g;

        Java2dCanvas(Graphics2D g) {
            this.g = g;
        }

        @Override
        public void line(double x1, double y1, double x2, double y2, int c, boolean dashed) {
            g.setColor(new Color(c));
            g.setStroke(dashed ? new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
                    new float[] {6f, 4f}, 0f) : new BasicStroke(1.5f));
            g.draw(new Line2D.Double(x1, y1, x2, y2));
        }

        @Override
        public void dot(double x, double y, int c) {
            g.setColor(new Color(c));
            g.fill(new java.awt.geom.Ellipse2D.Double(x - 3, y - 3, 6, 6));
        }

        @Override
        public void text(double x, double y, String s, int c, int size) {
            g.setColor(new Color(c));
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, size));
            g.drawString(s, (float) x, (float) y);
        }
    }
}
