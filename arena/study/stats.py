"""The statistics the reports share: Student's t, mean and sample standard deviation, and the rule for a
difference that *survives the seed spread* (the report across seeds and the scale study's RL seeds)."""

import math

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
"""Student's t, two-sided 95% (the 97.5% quantile), by degrees of freedom."""


def t975(df):
    """The 97.5% quantile of Student's t at ``df`` degrees of freedom (the next smaller tabulated ``df``,
    so the test errs strict; 1.96 beyond 30)."""
    if df < 1:
        return math.inf  # one seed: no spread to test against
    return T975[max(k for k in T975 if k <= df)] if df <= 30 else 1.96


def mean_sd(xs):
    """``(mean, sample standard deviation)``; the sd is None for one value."""
    n = len(xs)
    m = sum(xs) / n
    return m, (math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else None)


def survives(diffs, se_mean=0.0):
    """Whether per-seed differences survive the seed spread: the same sign in every seed, a mean outside a
    one-sample t-test's 95% interval, ``|mean| > t(0.975, n-1) * sd / sqrt(n)``, and a mean outside the
    tournament's own 95% interval of it, ``|mean| > 1.96 * se_mean``. One seed never does.

    Both tests, because neither alone sees every error. With few seeds the sd is a poor estimate (at two,
    one degree of freedom): two close differences pass the t-test however small they are. And where both
    sides of every seed's difference sit in one tournament with an arm that runs once, that arm's rating
    error is in every per-seed difference alike: it cancels from their spread but not from their mean, and
    only ``se_mean`` (from the fit's covariance over the players involved) carries it."""
    n = len(diffs)
    if n < 2 or len({d > 0 for d in diffs}) > 1:
        return False
    m, sd = mean_sd(diffs)
    return abs(m) > t975(n - 1) * sd / math.sqrt(n) and abs(m) > 1.96 * se_mean
