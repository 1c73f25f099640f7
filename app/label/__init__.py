"""The label workbench: LabelModel and ClassModel (QML ``ClassKit.Backend``), the
``fullimage`` image provider, and the label writer."""
