"""Published numbers the tables print beside the measured ones (never used in any computation)."""

# Table 1 of Lyu et al., "DeltaSpace" (arXiv 2310.08785): method -> (label, {metric: value}).
# Values are filled in only where read from the paper; None means not found, never a guess.
TABLE1: dict[str, tuple[str, dict]] = {
    "tedigan": ("TediGAN", {}),
    "styleclip-lm": ("StyleCLIP-LM", {}),
    "styleclip-gd": ("StyleCLIP-GD", {}),
    "stylemc": ("StyleMC", {}),
    "deltaedit": ("DeltaEdit-G", {}),
    "deltaedit-no-rs": ("DeltaEdit-G w/o R_s", {}),
    "deltaedit-wplus": ("DeltaEdit-G in W+ space", {}),
    "straightforward": ("Straightforward solution", {}),
}
