"""The metaphase canvas: image, instance outlines, zoom/pan view and editing tools."""
