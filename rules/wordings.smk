# Wordings (a separate target, `wordings`): each method's edits for prompts in wordings the mini CLIP's
# captions never use and for prompts asking for two values, beside the evaluation prompts, and their table.


rule wordings_method:
    input:
        unpack(wordings_inputs),
    output:
        f"{OUT}/wordings/{{dataset}}/{{method}}.jsonl",
    params:
        args=wordings_args,
    log:
        log_path("wordings/{dataset}/{method}"),
    benchmark:
        bench_path("wordings/{dataset}/{method}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace wordings --evaluation-set {input.evaluation_set:q} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule wordings_table:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        wordings_paths,
    output:
        table=report(f"{OUT}/tables/wordings-{{dataset}}.csv", category="Wordings", subcategory="{dataset}"),
        per_prompt=f"{OUT}/tables/wordings-{{dataset}}-per-prompt.csv",
    params:
        args=wordings_table_args,
    log:
        log_path("wordings_table/{dataset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace wordings-table {params.args} --out {output.table:q} --per-prompt {output.per_prompt:q} "
        "> {log:q} 2>&1"


rule wordings:
    input:
        wordings_outputs(),
