# Evaluation: the metric networks of the mini world, metrics per (dataset, method, prompt), figures.


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


rule evaluate:
    input:
        unpack(metric_net_inputs),
        evaluation_set=f"{OUT}/evaluation/{{dataset}}.parquet",
        edits=f"{OUT}/edits/{{dataset}}/{{method}}{{replicate}}",
    output:
        f"{OUT}/metrics/{{dataset}}/{{method}}{{replicate}}.jsonl",
    params:
        args=evaluate_args,
    log:
        log_path("evaluate/{dataset}/{method}{replicate}"),
    benchmark:
        bench_path("evaluate/{dataset}/{method}{replicate}")
    # one job per dataset x method; a second thread gives 1.13x (53 s -> 47 s for 1,000 images x 10
    # prompts on 2 cores), two one-thread jobs side by side 1.8x
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace evaluate --evaluation-set {input.evaluation_set:q} --edits {input.edits:q} {params.args} "
        "--out {output:q} --threads {threads} > {log:q} 2>&1"


rule edit_figures:
    input:
        evaluation_set=f"{OUT}/evaluation/{{dataset}}.parquet",
        edits=[f"{OUT}/edits/{{dataset}}/{m}" for m in METHODS],
        generator=model_checkpoint("generator"),  # renders the reconstruction column
    output:
        [report(f"{OUT}/figures/{{dataset}}/{m}.png", category="Edits", subcategory="{dataset}") for m in METHODS],
    params:
        args=figure_args,
    log:
        log_path("edit_figures/{dataset}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "deltaspace edit-figures --evaluation-set {input.evaluation_set:q} {params.args} > {log:q} 2>&1"
