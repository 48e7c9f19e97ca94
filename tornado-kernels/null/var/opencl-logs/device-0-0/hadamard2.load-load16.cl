#pragma OPENCL EXTENSION cl_khr_fp64 : enable  
#pragma OPENCL EXTENSION cl_khr_fp16 : enable  
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable  
__kernel void load16(__global long *_kernel_context, __constant uchar *_constant_region, __local uchar *_local_region, __global int *_atomics, __global uchar *in, __global uchar *work, __global uchar *pre, __global uchar *pow2, __private int total, __private int d, __private int fmt)
{
  uint ui_14, ui_15, ui_26, ui_22; 
  float f_21, f_20, f_36, f_33, f_32, f_19, f_35, f_18, f_30, f_46, f_25, f_42; 
  int i_6, i_4, i_5, i_37, i_31, i_47, i_12, i_13; 
  short sh_11; 
  ulong ul_2, ul_3, ul_0, ul_1, ul_17, ul_28, ul_29, ul_45, ul_10, ul_27, ul_41; 
  long l_38, l_43, l_44, l_7, l_39, l_8, l_40, l_9; 
  bool b_23, b_24, b_16, b_34; 

  // BLOCK 0
  ul_0  =  (ulong) in;
  ul_1  =  (ulong) work;
  ul_2  =  (ulong) pre;
  ul_3  =  (ulong) pow2;
  i_4  =  get_global_size(0);
  i_5  =  get_global_id(0);
  // BLOCK 1 MERGES [0 12 ]
  i_6  =  i_5;
  for(;i_6 < 7168;)
  {
    // BLOCK 2
    l_7  =  (long) i_6;
    l_8  =  l_7 + 8L;
    l_9  =  l_8 << 1;
    ul_10  =  ul_0 + l_9;
    sh_11  =  *((__global short *) ul_10);
    i_12  =  (int) sh_11;
    i_13  =  i_12 & 127;
    ui_14  =  sh_11 & 65535U;
    ui_15  =  ui_14 >> 7;
    b_16  =  (ui_15 & 255) == 0;
    if(b_16)
    {
      // BLOCK 3
      ul_17  =  ul_3 + 84L;
      f_18  =  *((__global float *) ul_17);
      f_19  =  (float) i_13;
      f_20  =  f_18 * f_19;
      f_21  =  f_20;
    }  // B2
    else
    {
      // BLOCK 4
      ui_22  =  ui_15 & 255;
      b_23  =  ui_22 == 255;
      if(b_23)
      {
        // BLOCK 5
        b_24  =  (i_12 & 127) == 0;
        if(b_24)
        {
          // BLOCK 6
          f_25  =  1.0F / 0.0F;
          f_21  =  f_25;
        }  // B5
        else
        {
          // BLOCK 7
          f_21  =  NaNF;
        }  // B5
      }  // B4
      else
      {
        // BLOCK 8
        ui_26  =  ui_22 + 20;
        ul_27  =  ui_26 & 4294967295UL;
        ul_28  =  ul_27 << 2;
        ul_29  =  ul_3 + ul_28;
        f_30  =  *((__global float *) ul_29);
        i_31  =  i_13 + 128;
        f_32  =  (float) i_31;
        f_33  =  f_30 * f_32;
        f_21  =  f_33;
      }  // B4
    }  // B2
    // BLOCK 9 MERGES [3 7 8 6 ]
    b_34  =  (ui_14 & -32768) == 0;
    if(b_34)
    {
      // BLOCK 10
      f_35  =  f_21;
    }  // B9
    else
    {
      // BLOCK 11
      f_36  =  -f_21;
      f_35  =  f_36;
    }  // B9
    // BLOCK 12 MERGES [11 10 ]
    i_37  =  i_6 % 1024;
    l_38  =  (long) i_37;
    l_39  =  l_38 + 4L;
    l_40  =  l_39 << 2;
    ul_41  =  ul_2 + l_40;
    f_42  =  *((__global float *) ul_41);
    l_43  =  l_7 + 4L;
    l_44  =  l_43 << 2;
    ul_45  =  ul_1 + l_44;
    f_46  =  f_35 * f_42;
    *((__global float *) ul_45)  =  f_46;
    i_47  =  i_4 + i_6;
    i_6  =  i_47;
  }  // B1
  // BLOCK 13
  return;
}  //  kernel
