# Edit strength, matched: each method of sweep.methods at several multiples of its strength setting
# (a separate target, not part of the default one), and the trade-off of edit accuracy against
# preservation and IDS that compares the methods at equal disentanglement:
#   snakemake --cores 2 results/mini/figures/tradeoff-mini-ffhq.png   (or: snakemake --cores 2 sweep)


rule strength_sweep:
    input:
        unpack(in_process_inputs),
    output:
        f"{OUT}/sweeps/{{dataset}}/{{method}}.jsonl",
    params:
        args=sweep_args,
    log:
        log_path("strength_sweep/{dataset}/{method}"),
    benchmark:
        bench_path("strength_sweep/{dataset}/{method}")
    # one job per dataset x method, as edit_images and evaluate: parallel jobs use the cores better
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace strength-sweep --evaluation-set {input.evaluation_set:q} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule tradeoff:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        sweep_paths,
    output:
        figure=report(f"{OUT}/figures/tradeoff-{{dataset}}.png", category="Strength sweep",
                      subcategory="{dataset}", caption="../workflow/report/tradeoff.rst"),
        table=report(f"{OUT}/tables/tradeoff-{{dataset}}.csv", category="Strength sweep", subcategory="{dataset}"),
        claims=report(f"{OUT}/tables/tradeoff-claims-{{dataset}}.md", category="Strength sweep",
                      subcategory="{dataset}"),
    params:
        args=tradeoff_args,
    log:
        log_path("tradeoff/{dataset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace tradeoff {params.args} --figure {output.figure:q} --table {output.table:q} "
        "--claims {output.claims:q} > {log:q} 2>&1"


rule sweep:
    input:
        sweep_outputs(),
