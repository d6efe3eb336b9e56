# Mini world: render the datasets as PNG folders and train the generator, encoder and CLIP.
# (In the real world none of these run: the user's image folders and checkpoints are used.)


rule render_dataset:
    output:
        directory(f"{OUT}/world/{{dataset}}"),
    params:
        settings=dataset_settings,
    log:
        log_path("render_dataset/{dataset}"),
    benchmark:
        bench_path("render_dataset/{dataset}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "deltaspace render-dataset --out {output:q} --name {wildcards.dataset} {params.settings} "
        "--threads {threads} > {log:q} 2>&1"


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
