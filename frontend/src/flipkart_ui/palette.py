"""Colour-blind-safe colours: the Okabe–Ito palette, one fixed colour per category."""

OKABE_ITO = [
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
]
# Perceptually uniform and readable with every common colour-vision deficiency.
SEQUENTIAL = "Cividis"


def category_colors(categories: list[str]) -> dict[str, str]:
    """Same category, same colour, in every chart: colours follow the sorted names."""
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(sorted(set(categories)))}
