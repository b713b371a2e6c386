"""Evaluate vision-language models on VLSBench-style safety benchmarks.

``vsil.evaluate(model, data="vlsbench", judge="openai:gpt-4o", mode="image")`` asks the model
every question, saves each answer as it arrives, judges the answers with the paper's
three-label rubric, and returns an `EvalResult` (refusal, warning and safety rates overall,
per category and per sub-category, with unjudged counts and Wilson intervals).
"""

from vsil.eval.evaluate import MODES, evaluate
from vsil.eval.judge import JudgeItem, ResponseJudge, make_judge
from vsil.eval.leaderboard import Leaderboard, leaderboard, normalise_name, paper_row
from vsil.eval.models import HFModel, ModelBackend, ModelInput, OpenAIModel, make_model
from vsil.eval.rates import Rates, agreement, compute_rates
from vsil.eval.result import EvalResult

__all__ = [
    "MODES",
    "EvalResult",
    "HFModel",
    "JudgeItem",
    "Leaderboard",
    "ModelBackend",
    "ModelInput",
    "OpenAIModel",
    "Rates",
    "ResponseJudge",
    "agreement",
    "compute_rates",
    "evaluate",
    "leaderboard",
    "make_judge",
    "make_model",
    "normalise_name",
    "paper_row",
]
