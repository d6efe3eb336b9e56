"""Image metrics shared by the trainers, the fidelity report and (later) the evaluation stage."""
