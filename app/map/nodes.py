"""Scenegraph node builders for the scatter item (DESIGN §5).

- the AttributeSet is module-global (a temporary one leaves a garbage stride);
- geometry is indexed with uint32 indices (non-indexed draws stop at 65,536 vertices);
- vertices are written zero-copy: one memmove into ``vertexData()`` via shiboken6.VoidPtr.
Child nodes stay owned by Python (appendChildNode does not transfer ownership), so their
``OwnedByParent`` flag is cleared and the item keeps references until it replaces them.
"""
from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage
from PySide6.QtQuick import (QQuickWindow, QSGGeometry, QSGGeometryNode, QSGNode, QSGSimpleTextureNode,
                              QSGTexture)

from classkit.engine.mapview.lod import VERTEX_DTYPE
from classkit.engine.mapview.splat import splat

from .material import PointMaterial

ATTRIBUTES = QSGGeometry.defaultAttributes_ColoredPoint2D()  # must outlive every geometry
GL_UNSIGNED_INT = 0x1405
_arange = np.arange(0, dtype=np.uint32)


def _indices(n: int) -> np.ndarray:
    global _arange
    if _arange.size < n:
        _arange = np.arange(max(n, 2 * _arange.size), dtype=np.uint32)
    return _arange[:n]


def _view(ptr: object, nbytes: int, dtype: np.dtype | type) -> np.ndarray:
    return np.frombuffer(shiboken6.VoidPtr(int(ptr), nbytes, True), dtype)


def points_node(vertices: np.ndarray, material: PointMaterial) -> QSGGeometryNode:
    """A DrawPoints geometry node holding ``vertices`` (VERTEX_DTYPE), drawn with ``material``."""
    n = int(vertices.shape[0])
    if vertices.dtype != VERTEX_DTYPE:
        raise TypeError(f"vertices must be {VERTEX_DTYPE}, got {vertices.dtype}")
    g = QSGGeometry(ATTRIBUTES, n, n, GL_UNSIGNED_INT)
    g.setDrawingMode(QSGGeometry.DrawingMode.DrawPoints)
    if n:
        _view(g.vertexData(), n * VERTEX_DTYPE.itemsize, np.uint8)[:] = vertices.view(np.uint8).reshape(-1)
        _view(g.indexData(), n * 4, np.uint32)[:] = _indices(n)
    node = QSGGeometryNode()
    node.setFlag(QSGNode.Flag.OwnedByParent, False)
    node.setGeometry(g)
    node.setFlag(QSGNode.Flag.OwnsGeometry, True)
    node.setMaterial(material)
    return node


def image_from_rgba(rgba: np.ndarray) -> QImage:
    """A QImage (premultiplied RGBA8888, own copy) of an (h, w, 4) uint8 array."""
    h, w = rgba.shape[:2]
    data = np.ascontiguousarray(rgba)
    return QImage(data.data, w, h, 4 * w, QImage.Format.Format_RGBA8888_Premultiplied).copy()


def texture_node(window: QQuickWindow, image: QImage, rect: tuple[float, float, float, float]
                 ) -> tuple[QSGSimpleTextureNode, QSGTexture]:
    """A texture node showing ``image`` over ``rect`` (x0, y0, x1, y1 in the parent's space)."""
    tex = window.createTextureFromImage(image)
    tex.setFiltering(QSGTexture.Filtering.Linear)
    node = QSGSimpleTextureNode()
    node.setFlag(QSGNode.Flag.OwnedByParent, False)
    node.setTexture(tex)
    node.setFiltering(QSGTexture.Filtering.Linear)
    x0, y0, x1, y1 = rect
    node.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
    return node, tex


def splat_image(view: tuple[float, float, float, float], size: tuple[int, int], layers: list[
        tuple[np.ndarray, float, float]]) -> QImage:
    """Software-backend fallback: the points of ``layers`` ((vertices, diameter px, ring))
    rasterised into an image covering ``view`` (data coords) at ``size`` pixels."""
    w, h = max(int(size[0]), 1), max(int(size[1]), 1)
    x0, y0, x1, _ = view
    s = w / max(x1 - x0, 1e-12)
    img = np.zeros((h, w, 4), np.uint8)
    for verts, diameter, ring in layers:
        if len(verts):
            splat(img, (verts["x"] - x0) * s, (verts["y"] - y0) * s, verts["rgba"], diameter, ring)
    return image_from_rgba(img)
