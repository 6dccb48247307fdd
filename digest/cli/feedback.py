"""`digest feedback`: record "more / less like this" votes, exactly as the digest's links do."""

from __future__ import annotations

import argparse

from digest.cli.common import Subparsers, add_command, open_config
from digest.storage.db import session_scope
from digest.storage.feedback import VoteAction, give_feedback
from digest.storage.subscribers import sync_subscribers

OUTCOMES = {(True, False): "recorded", (False, False): "unchanged",
            (True, True): "cleared", (False, True): "no vote"}


def add_parsers(sub: Subparsers) -> None:
    """Register feedback."""
    p = add_command(sub, "feedback", "vote 'more like this' or 'less like this' on papers for "
                                     "one subscriber, or take votes back", cmd_feedback)
    p.epilog = ("Votes are what the links in every digest record: one vote per subscriber and "
                "paper, the opposite vote replaces it, the same vote again changes nothing. "
                "Prints one line per paper: canonical id, action, and recorded | unchanged | "
                "cleared | no vote. Exit 2, recording nothing, when the subscriber or a paper "
                "is unknown.")
    p.add_argument("--subscriber", required=True, metavar="EMAIL",
                   help="the subscriber's email address")
    action = p.add_mutually_exclusive_group(required=True)
    for flag, what in (("more", "more like this (+1)"), ("less", "less like this (-1)"),
                       ("clear", "remove the votes on these papers")):
        action.add_argument(f"--{flag}", dest="action", action="store_const",
                            const=VoteAction(flag), help=what)
    p.add_argument("paper_ids", nargs="+", metavar="PAPER_ID",
                   help="a stored paper's canonical id (as `digest papers` and `digest rank` "
                        "show it) or DOI, or any arXiv id or arxiv.org URL (recorded under the "
                        "id without version, even before the paper is stored)")


def cmd_feedback(args: argparse.Namespace) -> int:
    """Record the votes and print what changed."""
    config, engine = open_config(args)
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        done = give_feedback(session, args.subscriber, args.action, args.paper_ids)
    for item in done:
        print(f"{item.paper_id}\t{item.action}\t"
              f"{OUTCOMES[item.changed, item.action == VoteAction.CLEAR]}")
    return 0
