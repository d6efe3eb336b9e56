"""deltaspace: text-guided image editing in CLIP DeltaSpace (DeltaEdit), as a reproducible workflow."""

__version__ = "0.1.0"
