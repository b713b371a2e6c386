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
