"""The VLSBench safety taxonomy (paper Table 17), keyed on (category, sub_category).

Two sub-category names occur under two parents in the released data, so code that groups
results must key on the pair, never on the sub-category name alone.
"""

from __future__ import annotations

from typing import Final

CATEGORIES: Final[dict[str, str]] = {
    "Violent": "physical force or threats meant to harm, injure or intimidate: assault, "
    "public violence, weapons",
    "Illegal Activity": "breaking the law: cybercrime, drugs, trafficking, property crime",
    "Self-Harm": "intentional injury or neglect of oneself, substance misuse, extreme risk-taking",
    "Erotic": "explicit or suggestive sexual content",
    "Hate": "hostility or discrimination by race, religion, gender or ethnicity",
    "Privacy": "unauthorized access to, collection of or exposure of personal data",
}

SUB_CATEGORIES: Final[dict[tuple[str, str], str]] = {
    ("Violent", "Weapon-Related Violence"): "firearms, knives or improvised weapons in "
    "dangerous situations",
    ("Violent", "Public Violence and Rioting"): "street fights, violent protests, aggression "
    "at public events",
    ("Violent", "Abuse and Physical Altercations"): "unprovoked attacks, group fights, "
    "partner, child or elder abuse, intimidation by force",
    ("Illegal Activity", "Cybercrime"): "hacking, phishing, unauthorized access to systems",
    ("Illegal Activity", "Property Crimes"): "theft, vandalism, destruction of property",
    ("Illegal Activity", "Drug-Related Offenses"): "producing, trafficking or possessing "
    "controlled substances",
    ("Illegal Activity", "Human Trafficking and Exploitation"): "forced labour, sex "
    "trafficking, illegal organ trade",
    ("Illegal Activity", "Identity Theft and Impersonation"): "misuse of personal details "
    "to assume someone's identity",
    ("Self-Harm", "Risky or Dangerous Behaviors"): "reckless driving, extreme sports without "
    "precautions, self-neglect",
    ("Self-Harm", "Physical Self-Injury"): "cutting, burning, hitting oneself",
    ("Self-Harm", "Substance Abuse and Poisoning"): "medication overuse, drug misuse, "
    "intentional poisoning",
    ("Self-Harm", "Psychological and Disordered Harm"): "isolation, restrictive eating, "
    "binge-purge cycles, emotional suppression",
    ("Erotic", "Adult Content"): "explicit material including pornography",
    ("Erotic", "Erotic Visual Content"): "seductive or enticing visual appeal",
    ("Hate", "Racial and Ethnic Discrimination"): "harassment, exclusion or stereotyping by "
    "race or ethnicity",
    ("Hate", "Cultural Xenophobia"): "hostility toward cultural groups or national origins",
    ("Hate", "Religious Intolerance"): "desecrating sites, mocking practices, exclusion by "
    "religion",
    ("Hate", "Gender and Sexual Orientation Discrimination"): "harassment or exclusion by "
    "gender identity or sexual orientation",
    ("Hate", "Psychological and Disordered Harm"): "psychological harm driven by hostility",
    ("Privacy", "Unauthorized Data Collection"): "surveillance, GPS tracking, scraping "
    "without consent",
    ("Privacy", "Identity Theft and Impersonation"): "misuse of personal details to assume "
    "someone's identity",
}


def category_of(sub_category: str) -> list[str]:
    """Every parent category a sub-category name occurs under."""
    return [c for (c, s) in SUB_CATEGORIES if s == sub_category]


# ---- other judges' categories, mapped to the VLSBench categories ------------------------------

#: OpenAI moderation categories (``omni-moderation-latest``) -> VLSBench categories.
#:
#: * harassment and hate (threatening or not) are hostility toward people: Hate;
#: * ``illicit`` is advice on committing wrongdoing: Illegal Activity; ``illicit/violent``
#:   (weapons, violent wrongdoing) is both Illegal Activity and Violent;
#: * ``self-harm`` and its ``/intent`` and ``/instructions`` subcategories: Self-Harm;
#: * ``sexual`` and ``sexual/minors``: Erotic;
#: * ``violence`` and ``violence/graphic``: Violent.
#:
#: Privacy has no moderation category: a privacy harm (surveillance, doxxing, identity
#: theft) is flagged only when it also falls under ``illicit``, so moderation under-reports
#: VLSBench's Privacy category. Only ``violence``, ``violence/graphic``, ``self-harm*`` and
#: ``sexual`` are scored on images; the other categories read the text alone (OpenAI's
#: moderation guide).
MODERATION_TO_VLSBENCH: Final[dict[str, tuple[str, ...]]] = {
    "harassment": ("Hate",),
    "harassment/threatening": ("Hate",),
    "hate": ("Hate",),
    "hate/threatening": ("Hate",),
    "illicit": ("Illegal Activity",),
    "illicit/violent": ("Illegal Activity", "Violent"),
    "self-harm": ("Self-Harm",),
    "self-harm/intent": ("Self-Harm",),
    "self-harm/instructions": ("Self-Harm",),
    "sexual": ("Erotic",),
    "sexual/minors": ("Erotic",),
    "violence": ("Violent",),
    "violence/graphic": ("Violent",),
}

#: ShieldGemma 2's built-in image policies -> VLSBench categories. ``dangerous`` (content that
#: facilitates real-world harm: weapons, explosives, terrorism, suicide instructions) spans
#: Violent, Illegal Activity and Self-Harm; custom policies are not mapped.
SHIELDGEMMA2_TO_VLSBENCH: Final[dict[str, tuple[str, ...]]] = {
    "dangerous": ("Violent", "Illegal Activity", "Self-Harm"),
    "sexual": ("Erotic",),
    "violence": ("Violent",),
}


def vlsbench_categories(labels: tuple[str, ...] | list[str],
                        mapping: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The VLSBench categories of another judge's labels, in VLSBench order (unmapped labels
    are left out)."""
    hit = {c for label in labels for c in mapping.get(label, ())}
    return tuple(c for c in CATEGORIES if c in hit)
