"""Ranking: each subscriber's best papers of the day, vectorised, with reasons."""

from digest.rank.model import Candidate, Interest, Pick, RankParams, Reason, Vote
from digest.rank.score import rank
from digest.rank.textfeat import CorpusStats

__all__ = ["Candidate", "CorpusStats", "Interest", "Pick", "RankParams", "Reason", "Vote", "rank"]
