import pandas as pd
import pytest

import csaudit as ca
from csaudit.trends import TEAM, audit_dirs, weekly_kpis
from tests.chat_builders import A, B, cat, msgs


def _chats(spec):
    return cat(*[msgs([("customer", None, "10:00:00", "在吗"), ("agent", agent, reply, "您好，在的")],
                      conv=k, customer=k, day=day) for k, agent, day, reply in spec])


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    root = tmp_path_factory.mktemp("audits")
    # week 46 (Tue 11-10): k1 (A, 30 s), k2 (B, 100 s); the second audit repeats k2 and adds k3 (A, week 47, 10 s)
    a1 = ca.audit(_chats([("k1", A, "2026-11-10", "10:00:30"), ("k2", B, "2026-11-10", "10:01:40")]))
    a2 = ca.audit(_chats([("k2", B, "2026-11-10", "10:01:40"), ("k3", A, "2026-11-17", "10:00:10")]))
    a1.save(root / "w46")
    a2.save(root / "w47")
    return root, a1, a2


def test_weekly_lines_and_changes(audits):
    root, a1, a2 = audits
    t = weekly_kpis([root / "w46", root / "w47"]).set_index(["agent", "week"])
    assert t.loc[(TEAM, "2026-W46"), "conversations"] == 2  # k2 counted once
    assert t.loc[(TEAM, "2026-W47"), "conversations"] == 1
    assert t.loc[(A, "2026-W46"), "first_response_s"] == 30 and t.loc[(A, "2026-W47"), "first_response_s"] == 10
    assert t.loc[(A, "2026-W47"), "first_response_s_change"] == -20
    assert pd.isna(t.loc[(A, "2026-W46"), "first_response_s_change"])
    q1 = a1.conversations.set_index("conversation_id").loc["k1", "qa_score"]
    q3 = a2.conversations.set_index("conversation_id").loc["k3", "qa_score"]
    assert t.loc[(A, "2026-W47"), "qa_score_change"] == pytest.approx(q3 - q1)
    assert t.loc[(A, "2026-W46"), "reply_rate"] == 1.0
    assert pd.isna(t.loc[(A, "2026-W46"), "order_conversion"])  # audits without orders
    # Audit objects work as well as folders
    same = weekly_kpis([a1, a2]).set_index(["agent", "week"])
    assert same.loc[(TEAM, "2026-W46"), "conversations"] == 2


def test_audit_dirs_accepts_a_folder_of_audits(audits, tmp_path):
    root, _, _ = audits
    assert [p.name for p in audit_dirs([root])] == ["w46", "w47"]
    with pytest.raises(FileNotFoundError, match="not a saved audit"):
        audit_dirs([tmp_path])
