# Fidelity report of the models: generator and inversion PSNR, CLIP zero-shot accuracy, DeltaSpace check,
# S expressiveness of the evaluation prompts (mini world).


rule fidelity_report:
    input:
        unpack(fidelity_inputs),
    output:
        report=report(f"{OUT}/reports/fidelity.json", category="Fidelity"),
        grid=report(f"{OUT}/reports/fidelity.png", category="Fidelity", caption="../workflow/report/fidelity.rst"),
    params:
        args=fidelity_args,
    log:
        log_path("fidelity_report"),
    benchmark:
        bench_path("fidelity_report")
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "deltaspace fidelity-report {params.args} --out {output.report:q} --grid {output.grid:q} "
        "--threads {threads} > {log:q} 2>&1"
