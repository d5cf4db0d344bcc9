"""A small covering-array generator for the fixture scripts: few cases in which every pair of option values (and
chosen triples) appears together at least once, so a whole option matrix is tested without its full product."""
import itertools


def covering_cases(rng, factors, triples, allowed):
    """Greedy covering (AETG style) of all pairs of `factors` and the `triples`: each new case is the best of many
    random allowed candidates by the number of still uncovered tuples it covers, until none is left.

    factors: {name: [values]}; triples: [(name, name, name)]; allowed(partial_case) -> bool rules out
    combinations that cannot exist (e.g. lengths with unbatched input)."""
    groups = list(itertools.combinations(factors, 2)) + triples

    def tuples(case):
        return {tuple((n, repr(case[n])) for n in g) for g in groups}

    uncovered = set()
    for g in groups:
        for values in itertools.product(*(factors[n] for n in g)):
            partial = dict(zip(g, values))
            if allowed(partial):
                uncovered.add(tuple((n, repr(v)) for n, v in partial.items()))

    cases = []
    while uncovered:
        best, best_gain = None, -1
        todo = sorted(uncovered)
        for _ in range(400):
            cand = {n: rng.choice(vs) for n, vs in factors.items()}
            # start from one uncovered tuple so every case makes progress
            for n, v in rng.choice(todo):
                cand[n] = next(x for x in factors[n] if repr(x) == v)
            if not allowed(cand):
                continue
            gain = len(tuples(cand) & uncovered)
            if gain > best_gain:
                best, best_gain = cand, gain
        cases.append(best)
        uncovered -= tuples(best)
    return cases
