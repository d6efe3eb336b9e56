"""Published numbers the tables print beside the measured ones (never used in any computation).

Source: Lyu et al., "DeltaSpace: A Semantic-aligned Feature Space for Flexible Text-guided Image
Editing" (arXiv 2310.08785), section 5, Tables 1-5, transcribed by hand. Table 1 and 4 values are
averages over the paper's ten prompts on FFHQ (FID, PSNR, IDS with ArcFace); Table 3 is
reconstruction on CelebA-HQ 30K with models trained on FFHQ. A method the paper does not report
has no entry; nothing here is estimated.
"""

# Table 1 (GAN-based methods): workflow method name -> (label in the paper, {metric: value}).
# The paper's ablation rows: "S space" is the S mapper without R_s masking, "W+ space" the W+ mapper,
# "straightforward" the mapper trained on raw CLIP image embeddings.
TABLE1: dict[str, tuple[str, dict]] = {
    "tedigan": ("TediGAN", {"fid": 31.13, "psnr": 20.46, "ids": 0.60}),
    "styleclip-lm": ("StyleCLIP-LM", {"fid": 18.33, "psnr": 21.41, "ids": 0.88}),
    "styleclip-gd-rho2": ("StyleCLIP-GD rho=2", {"fid": 12.06, "psnr": 22.31, "ids": 0.86}),
    "styleclip-gd-rho3": ("StyleCLIP-GD rho=3", {"fid": 16.85, "psnr": 19.50, "ids": 0.77}),
    "styleclip-gd-rho4": ("StyleCLIP-GD rho=4", {"fid": 22.85, "psnr": 17.61, "ids": 0.68}),
    "stylemc": ("StyleMC", {"fid": 48.96, "psnr": 17.47, "ids": 0.52}),
    "deltaedit": ("DeltaEdit-G", {"fid": 10.29, "psnr": 22.92, "ids": 0.90}),
    "deltaedit-no-rs": ("DeltaEdit-G (S space, w/o R_s)", {"fid": 18.88, "psnr": 13.49, "ids": 0.61}),
    "deltaedit-wplus": ("DeltaEdit-G (W+ space)", {"fid": 21.63, "psnr": 12.83, "ids": 0.55}),
    "straightforward": ("DeltaEdit-G (straightforward)", {"fid": 44.62, "psnr": 11.21, "ids": 0.29}),
}

# Table 2 (user study, 40 participants x 20 rounds): share of rounds each method was picked as the most
# accurate edit, and share of its images marked realistic.
TABLE2: dict[str, tuple[str, dict]] = {
    "styleclip-gd-rho2": ("StyleCLIP rho=2", {"accuracy": 0.19, "realism": 0.50}),
    "styleclip-gd-rho3": ("StyleCLIP rho=3", {"accuracy": 0.09, "realism": 0.33}),
    "styleclip-gd-rho4": ("StyleCLIP rho=4", {"accuracy": 0.0975, "realism": 0.2875}),
    "deltaedit": ("DeltaEdit-G", {"accuracy": 0.6225, "realism": 0.9025}),
}

# Table 3 (reconstruction): method -> (label, setting, {metric: value}).
TABLE3: dict[str, tuple[str, str, dict]] = {
    "stylegan2-w": ("StyleGAN2 (W)", "-", {"ssim": 0.677, "lpips": 0.168, "mse": 1.60e-2}),
    "stylegan2-wplus": ("StyleGAN2 (W+)", "-", {"ssim": 0.827, "lpips": 0.114, "mse": 6.00e-3}),
    "vq-gan": ("VQ-GAN", "-", {"ssim": 0.782, "lpips": 0.109, "mse": 3.61e-3}),
    "vq-vae2": ("VQ-VAE2", "-", {"ssim": 0.947, "lpips": 0.012, "mse": 4.87e-4}),
    "hfgi": ("HFGI", "-", {"ssim": 0.877, "lpips": 0.127, "mse": 6.17e-2}),
    "ddim": ("DDIM", "T=100, 128^2", {"ssim": 0.917, "lpips": 0.063, "mse": 2.00e-3}),
    "diffae": ("DiffAE", "T=100, 128^2, x_T", {"ssim": 0.991, "lpips": 0.011, "mse": 6.07e-5}),
    "deltaedit-d": ("ours", "T=100, 128^2, x_T", {"ssim": 0.989, "lpips": 0.007, "mse": 6.34e-5}),
}

# Table 4 (diffusion-based methods, with DeltaEdit-G repeated from Table 1).
TABLE4: dict[str, tuple[str, dict]] = {
    "diffusionclip": ("DiffusionCLIP", {"fid": 72.21, "psnr": 22.08, "ids": 0.73}),
    "diffae": ("DiffAE", {"fid": 15.73, "psnr": 23.40, "ids": 0.84}),
    "asyrp": ("Asyrp", {"fid": 87.38, "psnr": 20.20, "ids": 0.48}),
    "deltaedit": ("DeltaEdit-G", {"fid": 10.29, "psnr": 22.92, "ids": 0.90}),
    "deltaedit-d": ("DeltaEdit-D", {"fid": 9.36, "psnr": 23.51, "ids": 0.93}),
}

# Table 5 (time efficiency), as printed: pre-processing, training and inference time, whether the edit
# is conditioned on the input image, latent space. StyleCLIP-GD's inference excludes 8-9 s of manual
# hyper-parameter tuning per case.
TABLE5: dict[str, tuple[str, dict]] = {
    "tedigan": ("TediGAN", {"preprocessing": "-", "training": "12h+", "inference": "20 s", "image_conditioned": "yes", "space": "W+"}),
    "styleclip-op": ("StyleCLIP-OP", {"preprocessing": "-", "training": "-", "inference": "99 s", "image_conditioned": "yes", "space": "W+"}),
    "styleclip-lm": ("StyleCLIP-LM", {"preprocessing": "-", "training": "10-12h", "inference": "70ms", "image_conditioned": "yes", "space": "W+"}),
    "styleclip-gd": ("StyleCLIP-GD", {"preprocessing": "4h", "training": "-", "inference": "72ms*", "image_conditioned": "no", "space": "S"}),
    "stylemc": ("StyleMC", {"preprocessing": "-", "training": "5s", "inference": "65ms", "image_conditioned": "yes", "space": "S"}),
    "deltaedit": ("DeltaEdit-G", {"preprocessing": "4h", "training": "2.7h", "inference": "73ms", "image_conditioned": "yes", "space": "S"}),
    "deltaedit-d": ("DeltaEdit-D", {"preprocessing": "-", "training": "12h+", "inference": "14.6s", "image_conditioned": "yes", "space": "S"}),
}

#: Table 1 rows that Table 5 reports under another row: StyleCLIP-GD's three strengths cost the same.
TABLE5_ALIASES = {"styleclip-gd-rho2": "styleclip-gd", "styleclip-gd-rho3": "styleclip-gd",
                  "styleclip-gd-rho4": "styleclip-gd"}
