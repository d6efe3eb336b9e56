"""The no-edit reference: every prompt returns the inversion's reconstruction G(s, s_rgb).

Its row in a table is the ceiling of IDS, PSNR and preservation that inversion alone allows
(no edit method can preserve more than the reconstruction keeps), and its edit accuracy is the
share of images that already had the asked attribute value.
"""

from __future__ import annotations

from .base import EditingMethod, EvalBatch, MethodKind


class Reconstruction(EditingMethod):
    kind = "reconstruction"

    def __init__(self, G):
        self.G = G.eval()

    def edit(self, batch: EvalBatch, prompt):
        return self.G.synthesis(batch.s, batch.s_rgb, noise_mode="const")


def build(spec: dict) -> Reconstruction:
    from ..models.loading import load_generator_spec

    return Reconstruction(load_generator_spec(spec["generator"])[0])


KIND = MethodKind(
    name="reconstruction",
    description="No edit: the inversion's reconstruction, the reference row of every editing table.",
    settings={},
    build=build,
)
