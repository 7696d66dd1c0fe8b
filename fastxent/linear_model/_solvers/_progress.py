"""The progress lines a solver prints when ``verbose`` is set."""


class _Progress:
    """Prints one line every so many iterations when ``verbose`` is set."""

    def __init__(self, name, verbose, max_iter):
        self.name = name
        self.every = 0
        if verbose:
            # verbose=1: about 20 lines per fit (every iteration for short
            # fits); verbose>=2: every iteration.
            self.every = 1 if verbose >= 2 else max(1, min(50, max_iter // 20))

    def __call__(self, it, objective, optimality, step, *, last=False):
        if self.every and (it % self.every == 0 or last):
            print(
                f"[{self.name}] iter {it:6d}  objective {objective:.12e}  "
                f"optimality {optimality:.3e}  step {step:.3e}",
                flush=True,
            )
