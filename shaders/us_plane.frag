// us_plane.frag - display mapping of the ultrasound plane (brightness, contrast, gamma).
//
// The idea: the B-mode texture holds the echo grey level as the scanner sent it;
// how it is shown is a display choice made on the GPU, per fragment, so changing
// it costs nothing per frame. This block is inserted by the viewer right after
// VTK's texture lookup (the TCoord implementation point of VTK's polydata
// fragment shader), where gl_FragData[0] holds the textured colour (VTK renames
// it fragOutput0). Do not write VTK's shader tags in this file: VTK substitutes
// them wherever they appear, comments included. The uniforms cn_brightness,
// cn_contrast, cn_gamma are declared by VTK from the actor's custom uniforms:
// they must NOT be declared here. The viewer defines CN_GAMMA_IS_ONE while gamma
// is 1, so the pow() (the dearest line on a CPU renderer) is compiled out then.
{
  float echo = gl_FragData[0].r;                      // grey level 0..1
  float v = (echo - 0.5) * cn_contrast + 0.5 + cn_brightness;
  v = clamp(v, 0.0, 1.0);
#ifndef CN_GAMMA_IS_ONE
  v = pow(v, 1.0 / max(cn_gamma, 0.05));
#endif
  // A faint cool tint, as on clinical consoles; keeps grey readable.
  gl_FragData[0] = vec4(v * 0.97, v * 0.99, v, 1.0);
}
