"""What the methods that optimise each image at edit time share (StyleCLIP-OP, TediGAN); no method kind here."""

from __future__ import annotations

from .base import EditingMethod


def optimise_wplus(w0, loss_fn, *, steps: int, lr: float, ramp: bool = True):
    """Per-image W+ optimisation from w0 (B, n_latent, style_dim): loss_fn(w) -> per-image losses (B,);
    Adam on their sum (each code moves by its own image's loss), with StyleCLIP's learning-rate ramp unless
    ramp=False. Returns the final codes (no grad)."""
    import torch

    from .losses import ramped_lr

    with torch.enable_grad():
        w = w0.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        for step in range(steps):
            if ramp:
                for group in opt.param_groups:
                    group["lr"] = ramped_lr(step / steps, lr)
            loss = loss_fn(w).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return w.detach()


class EditTimeOptimiser(EditingMethod):
    """A method that optimises every image's code for the prompt when it edits: a generator, a CLIP, its
    settings, and each prompt's unit target text embedding computed once."""

    def __init__(self, G, clip, settings: dict):
        self.G, self.clip, self.settings = G.eval(), clip, settings
        self._targets: dict[str, object] = {}

    def target(self, prompt):
        from ..directions.text import text_direction

        if prompt.target not in self._targets:
            self._targets[prompt.target] = text_direction(self.clip, prompt.source, prompt.target)[1]
        return self._targets[prompt.target]

    def describe(self) -> dict:
        return {"kind": self.kind, **self.settings}
