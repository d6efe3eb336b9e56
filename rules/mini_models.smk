# Mini world: train the generator, the encoder and CLIP, and the metric nets (attribute and identity).
# (In the real world none of these run: the user's checkpoints are used.)


rule train_generator:
    output:
        f"{OUT}/models/generator.pt",
    params:
        settings=mini_training("generator"),
    log:
        log_path("train_generator"),
    benchmark:
        bench_path("train_generator")
    priority: CRITICAL_PATH
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace train-generator --out {output:q} {params.settings} --threads {threads} > {log:q} 2>&1"


rule train_encoder:
    input:
        generator=f"{OUT}/models/generator.pt",
    output:
        f"{OUT}/models/encoder.pt",
    params:
        settings=mini_training("encoder"),
    log:
        log_path("train_encoder"),
    benchmark:
        bench_path("train_encoder")
    priority: CRITICAL_PATH
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace train-encoder --out {output:q} --generator {input.generator:q} {params.settings} "
        "--threads {threads} > {log:q} 2>&1"


rule train_clip:
    output:
        f"{OUT}/models/clip.pt",
    params:
        settings=mini_training("clip"),
    log:
        log_path("train_clip"),
    benchmark:
        bench_path("train_clip")
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace train-clip --out {output:q} {params.settings} --threads {threads} > {log:q} 2>&1"


rule train_attribute_net:
    output:
        f"{OUT}/models/attribute_net.pt",
    params:
        settings=mini_training("attribute_net"),
    log:
        log_path("train_attribute_net"),
    benchmark:
        bench_path("train_attribute_net")
    threads: 1  # small convolutions: a second thread costs more than it gives on a busy machine
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace train-attribute-net --out {output:q} {params.settings} --threads {threads} > {log:q} 2>&1"


rule train_identity_net:
    output:
        checkpoint=f"{OUT}/models/identity_net.pt",
        onnx=f"{OUT}/models/identity_net.onnx",
    params:
        settings=mini_training("identity_net"),
    log:
        log_path("train_identity_net"),
    benchmark:
        bench_path("train_identity_net")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace train-identity-net --out {output.checkpoint:q} --onnx {output.onnx:q} {params.settings} "
        "--threads {threads} > {log:q} 2>&1"


rule train_identity_loss_net:
    # The identity net of the compared methods' identity losses (StyleMC, StyleCLIP): another seed and width
    # than the one that measures IDS, so that no method is trained on the metric that judges it.
    output:
        checkpoint=f"{OUT}/models/identity_loss_net.pt",
        onnx=f"{OUT}/models/identity_loss_net.onnx",
    params:
        settings=mini_training("identity_loss_net"),
    log:
        log_path("train_identity_loss_net"),
    benchmark:
        bench_path("train_identity_loss_net")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace train-identity-net --out {output.checkpoint:q} --onnx {output.onnx:q} {params.settings} "
        "--threads {threads} > {log:q} 2>&1"
