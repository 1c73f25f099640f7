"""Round, screen-sized scatter points: a QSGMaterial with the .qsb shaders in
qml/ClassKit/Map/shaders (one vertex per point, ``gl_PointSize`` in device pixels).

Uniform block (std140): mat4 qt_Matrix | float qt_Opacity | float pointSize | float outline.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from PySide6.QtQuick import QSGMaterial, QSGMaterialShader, QSGMaterialType

_TYPE = QSGMaterialType()  # module-global: one identity for every PointMaterial


def shader_dir() -> Path:
    """Folder holding points.vert.qsb / points.frag.qsb: ``CLASSKIT_SHADER_DIR``, else
    ``ClassKit/Map/shaders`` under ``CLASSKIT_QML_DIR`` or the ``qml/`` beside ``app/``."""
    env = os.environ.get("CLASSKIT_SHADER_DIR")
    if env:
        return Path(env)
    qml = os.environ.get("CLASSKIT_QML_DIR") or Path(__file__).resolve().parents[2] / "qml"
    return Path(qml) / "ClassKit" / "Map" / "shaders"


class PointShader(QSGMaterialShader):
    """Writes the matrix, opacity, point size and outline into the uniform buffer."""

    def __init__(self) -> None:
        super().__init__()
        folder = shader_dir()
        self.setShaderFileName(QSGMaterialShader.Stage.VertexStage, str(folder / "points.vert.qsb"))
        self.setShaderFileName(QSGMaterialShader.Stage.FragmentStage, str(folder / "points.frag.qsb"))

    def updateUniformData(self, state: QSGMaterialShader.RenderState, new: QSGMaterial,
                          old: QSGMaterial | None) -> bool:
        buf = state.uniformData()
        if state.isMatrixDirty():
            buf.replace(0, 64, struct.pack("16f", *state.combinedMatrix().data()))
        if state.isOpacityDirty():
            buf.replace(64, 4, struct.pack("f", state.opacity()))
        # Several point materials share this shader: always write their own size/outline.
        buf.replace(68, 8, struct.pack("2f", new.point_px * new.dpr, new.outline))
        return True


class PointMaterial(QSGMaterial):
    """Material state: point diameter in logical pixels, device pixel ratio, outline width
    (fraction of the radius drawn as a white ring, 0 = none)."""

    def __init__(self, point_px: float = 4.0, outline: float = 0.0, dpr: float = 1.0) -> None:
        super().__init__()
        self.point_px, self.outline, self.dpr = point_px, outline, dpr
        self.setFlag(QSGMaterial.Flag.Blending, True)

    def set_size(self, point_px: float, dpr: float) -> None:
        self.point_px, self.dpr = point_px, dpr

    def type(self) -> QSGMaterialType:
        return _TYPE

    def createShader(self, render_mode: QSGMaterial.RenderMode) -> QSGMaterialShader:  # noqa: N802
        self._shader = PointShader()
        return self._shader

    def compare(self, other: QSGMaterial) -> int:
        a = (self.point_px, self.outline, self.dpr)
        b = (getattr(other, "point_px", 0), getattr(other, "outline", 0), getattr(other, "dpr", 0))
        return (a > b) - (a < b)
