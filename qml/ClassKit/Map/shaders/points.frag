#version 440
// Disc with an optional white ring (selection / hover highlight); premultiplied output.
layout(location = 0) in vec4 vColor;
layout(location = 0) out vec4 fragColor;
layout(std140, binding = 0) uniform buf {
    mat4 qt_Matrix;
    float qt_Opacity;
    float pointSize;
    float outline;
    float pad;
};
void main() {
    vec2 c = gl_PointCoord * 2.0 - 1.0;
    float r2 = dot(c, c);
    if (r2 > 1.0)
        discard;
    vec4 col = vColor;
    if (outline > 0.0 && r2 > (1.0 - outline) * (1.0 - outline))
        col = vec4(1.0, 1.0, 1.0, 1.0);
    fragColor = vec4(col.rgb * col.a, col.a) * qt_Opacity;
}
