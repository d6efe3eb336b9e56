# Evaluation: the metrics of every method's edits per (dataset, method, prompt), with their bootstrap spread.


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
