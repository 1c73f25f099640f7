#version 440
// Round scatter points: one vertex per point, size in device pixels.
layout(location = 0) in vec4 pos;
layout(location = 1) in vec4 color;
layout(location = 0) out vec4 vColor;
layout(std140, binding = 0) uniform buf {
    mat4 qt_Matrix;
    float qt_Opacity;
    float pointSize;
    float outline;
    float pad;
};
out gl_PerVertex { vec4 gl_Position; float gl_PointSize; };
void main() {
    vColor = color;
    gl_PointSize = pointSize;
    gl_Position = qt_Matrix * pos;
}
