"""Pure numpy/numba building blocks of the Explorer map (no Qt).

``colors`` turns labels/predictions/clusters into per-point colours and a legend,
``lod`` picks what to draw for a view (density image, culled points, a fixed subsample),
``pick`` finds the point under the cursor and ``lasso`` the points inside a polygon.
"""
