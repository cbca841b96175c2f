"""Firewall actions: ``block`` an address or network (both directions) and ``unblock`` (undo).

The host's own firewall tool is unavoidable here, so it is run by absolute path (``nft``,
``iptables``/``ip6tables`` under /usr/sbin or /sbin) and every change is read back with it.
Which one: ``backend=`` if given; else the one already holding our rules; else ``nft`` when its
ruleset is not empty, ``iptables`` when it has rules; else whichever exists (``nft`` first).

Our rules live in a table/chain of our own so undo is exact and nothing of the host's is
touched: for nftables a table ``inet sickbay`` with base chains ``input`` and ``output`` hooked at
priority -10 (before the usual filter chains, so an accept there cannot let the address in),
written in ONE ``nft`` command (one atomic transaction); for iptables a chain ``SICKBAY`` jumped to
from the top of INPUT and OUTPUT (and the same in ip6tables for IPv6). Every rule carries the
comment ``sickbay:<block id>``. ``unblock`` deletes exactly those rules (nft: by handle), and the
table / chain and its jumps when nothing of ours is left in them.

Refused: anything that is not an IPv4/IPv6 address or network (``ipaddress``, strict: host bits
must be zero), ``0.0.0.0/0`` and ``::/0``, and any network holding the address sickbay's own SSH
connection comes from, as the target sees it (``SSH_CONNECTION`` of the session running the
script): blocking it would cut the operator off.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backends.hostactions.base import ActionContext, HostAction
from backends.hostactions.files import Failed, call, new_id, where
from domain.actions import ActionError, ActionPlan, ActionResult, Outcome, PlannedStep, Risk
from domain.sanitize import visible

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NFT = ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft")
IPTABLES = ("/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables")
IP6TABLES = ("/usr/sbin/ip6tables", "/sbin/ip6tables", "/usr/bin/ip6tables")
TABLE = "sickbay"
CHAIN = "SICKBAY"
PRIORITY = -10
WAIT = ["-w", "10"]  # wait up to 10 s for the xtables lock

# Host side: which binaries exist, and the SSH connection this script runs in.
SCRIPT = (
    r"""
import json, os

def first(paths):
    return next((p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)), None)

print(json.dumps({'nft': first(@NFT@), 'iptables': first(@IPT@), 'ip6tables': first(@IP6@),
                  'ssh_connection': os.environ.get('SSH_CONNECTION')}))
""".replace("@NFT@", repr(NFT))
    .replace("@IPT@", repr(IPTABLES))
    .replace("@IP6@", repr(IP6TABLES))
)


def parse_network(text: str) -> Network:
    """An address or network, strictly (``10.0.0.5/8`` is refused: say ``10.0.0.0/8``)."""
    raw = text.strip()
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f" (did you mean {ipaddress.ip_network(raw, strict=False)}?)"
        raise ActionError(
            f"not an IP address or network: {visible(raw)!r}: {exc}{hint}; nothing was done"
        ) from None
    if net.prefixlen == 0:
        raise ActionError(f"refusing to block {net}: that is every address; nothing was done")
    return net


def ssh_peer(connection: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address of ``SSH_CONNECTION`` ("client port server port")."""
    if not isinstance(connection, str) or not connection.split():
        return None
    try:
        peer = ipaddress.ip_address(connection.split()[0].split("%")[0])
    except ValueError:
        return None
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        return peer.ipv4_mapped
    return peer


def refuse_operator(net: Network, probe: Mapping[str, Any]) -> str:
    """Raise when ``net`` holds the operator's SSH client address; else a note for the plan."""
    peer = ssh_peer(probe.get("ssh_connection"))
    if peer is None:
        return "sickbay's own address is not known here (not an SSH session)"
    if peer.version == net.version and peer in net:
        raise ActionError(
            f"refusing to block {net}: it holds {peer}, the address sickbay's SSH connection "
            "comes from; you would cut yourself off; nothing was done"
        )
    return f"sickbay's SSH connection comes from {peer} (not blocked)"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class Command:
    what: str
    argv: tuple[str, ...]
    undo: tuple[str, ...] | None = None  # how to take it back if a later command fails


async def run_checked(ctx: ActionContext, commands: Sequence[Command]) -> list[str]:
    """Run ``commands`` in order; on a failure take back the ones done (in reverse) and raise
    :class:`Failed` saying so. Returns what each said on stderr (if anything)."""
    done: list[Command] = []
    said: list[str] = []
    for command in commands:
        result = await ctx.exec.run(list(command.argv), timeout=60.0)
        if result.status != 0:
            err = visible(_text(result.stderr).strip()[-300:])
            undone = []
            for previous in reversed(done):
                if previous.undo is not None:
                    back = await ctx.exec.run(list(previous.undo), timeout=60.0)
                    undone.append(f"{shlex.join(previous.undo)} -> {back.status}")
            state = (
                "nothing was changed"
                if not done
                else "rolled back: " + "; ".join(undone)
                if undone
                else "partly applied: " + "; ".join(shlex.join(c.argv) for c in done)
            )
            raise Failed(
                f"{shlex.join(command.argv)} failed (status {result.status}): {err}", state=state
            )
        done.append(command)
        if result.stderr.strip():
            said.append(visible(_text(result.stderr).strip()[-300:]))
    return said


# -- nftables ----------------------------------------------------------------------------------


def nft_family(net: Network) -> str:
    return "ip" if net.version == 4 else "ip6"


def nft_block(nft: str, net: Network, comment: str) -> Command:
    fam = nft_family(net)
    hook = "{{ type filter hook {h} priority {p} ; policy accept ; }}"
    script = "; ".join(
        [
            f"add table inet {TABLE}",
            f"add chain inet {TABLE} input " + hook.format(h="input", p=PRIORITY),
            f"add chain inet {TABLE} output " + hook.format(h="output", p=PRIORITY),
            f'add rule inet {TABLE} input {fam} saddr {net} counter drop comment "{comment}"',
            f'add rule inet {TABLE} output {fam} daddr {net} counter drop comment "{comment}"',
        ]
    )
    return Command("add the table, its two chains and both rules (one transaction)", (nft, script))


def _nft_net(right: Any) -> Network | None:
    try:
        if isinstance(right, str):
            return ipaddress.ip_network(right, strict=False)
        if isinstance(right, dict) and isinstance(right.get("prefix"), dict):
            prefix = right["prefix"]
            return ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False)
    except (ValueError, KeyError, TypeError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class NftRule:
    chain: str
    handle: int
    comment: str
    field: str  # saddr / daddr
    net: Network | None
    drop: bool


def parse_nft_table(text: str) -> tuple[list[NftRule], dict[str, dict[str, Any]]]:
    """Our table's rules and chains from ``nft -j list table inet sickbay``; never raises."""
    try:
        data = json.loads(text)
        items = data.get("nftables", []) if isinstance(data, dict) else []
    except ValueError:
        return [], {}
    rules: list[NftRule] = []
    chains: dict[str, dict[str, Any]] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        chain = item.get("chain")
        if isinstance(chain, dict) and chain.get("table") == TABLE:
            chains[str(chain.get("name"))] = chain
        rule = item.get("rule")
        if not isinstance(rule, dict) or rule.get("table") != TABLE:
            continue
        field, net, drop = "", None, False
        exprs = rule.get("expr")
        for expr in exprs if isinstance(exprs, list) else []:
            if not isinstance(expr, dict):
                continue
            if "drop" in expr:
                drop = True
            match = expr.get("match")
            if isinstance(match, dict) and isinstance(match.get("left"), dict):
                payload = match["left"].get("payload")
                if isinstance(payload, dict) and payload.get("field") in ("saddr", "daddr"):
                    field, net = str(payload["field"]), _nft_net(match.get("right"))
        try:
            handle = int(rule.get("handle"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        rules.append(
            NftRule(
                str(rule.get("chain")), handle, str(rule.get("comment") or ""), field, net, drop
            )
        )
    return rules, chains


async def nft_list(ctx: ActionContext, nft: str) -> tuple[list[NftRule], dict[str, Any], bool]:
    """(rules, chains, table exists)."""
    result = await ctx.exec.run([nft, "-j", "list", "table", "inet", TABLE], timeout=60.0)
    if result.status != 0:
        return [], {}, False
    rules, chains = parse_nft_table(_text(result.stdout))
    return rules, chains, True


# -- iptables ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IptRule:
    args: tuple[str, ...]  # after "-A SICKBAY"
    comment: str
    field: str  # -s / -d
    net: Network | None
    drop: bool


def parse_ipt_chain(text: str) -> list[IptRule]:
    """The rules of ``iptables -S SICKBAY``; never raises."""
    rules = []
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) < 2 or words[0] != "-A" or words[1] != CHAIN:
            continue
        args = tuple(words[2:])
        comment, field, net = "", "", None
        for i, word in enumerate(args[:-1]):
            if word == "--comment":
                comment = args[i + 1]
            elif word in ("-s", "-d"):
                field = word
                try:
                    net = ipaddress.ip_network(args[i + 1], strict=False)
                except ValueError:
                    net = None
        drop = len(args) >= 2 and args[-2] == "-j" and args[-1] == "DROP"
        rules.append(IptRule(args, comment, field, net, drop))
    return rules


async def ipt_state(ctx: ActionContext, ipt: str) -> tuple[bool, list[IptRule], bool, bool]:
    """(our chain exists, its rules, INPUT jumps to it, OUTPUT jumps to it)."""
    listed = await ctx.exec.run([ipt, *WAIT, "-S", CHAIN], timeout=60.0)
    if listed.status != 0:
        return False, [], False, False
    jumps = []
    for chain in ("INPUT", "OUTPUT"):
        check = await ctx.exec.run([ipt, *WAIT, "-C", chain, "-j", CHAIN], timeout=60.0)
        jumps.append(check.status == 0)
    return True, parse_ipt_chain(_text(listed.stdout)), jumps[0], jumps[1]


def ipt_rule_args(net: Network, field: str, comment: str) -> tuple[str, ...]:
    return (field, str(net), "-m", "comment", "--comment", comment, "-j", "DROP")


# -- choosing the backend ----------------------------------------------------------------------


async def choose_backend(
    ctx: ActionContext, probe: Mapping[str, Any], net: Network, wanted: str
) -> tuple[str, str, str]:
    """(backend, binary, why)."""
    nft = probe.get("nft")
    ipt = probe.get("iptables" if net.version == 4 else "ip6tables")
    if wanted:
        if wanted not in ("nft", "iptables"):
            raise ActionError("backend must be nft or iptables; nothing was done")
        binary = nft if wanted == "nft" else ipt
        if not binary:
            raise ActionError(f"{wanted} is not installed on the host; nothing was done")
        return wanted, str(binary), "as asked (backend=)"
    nft_rules = nft_ok = ipt_rules = ipt_ok = nft_ours = ipt_ours = False
    if nft:
        listed = await ctx.exec.run([str(nft), "list", "ruleset"], timeout=60.0)
        nft_ok = listed.status == 0
        text = _text(listed.stdout)
        nft_rules = nft_ok and "table " in text
        nft_ours = nft_ok and f"table inet {TABLE} " in text
    if ipt:
        listed = await ctx.exec.run([str(ipt), *WAIT, "-S"], timeout=60.0)
        ipt_ok = listed.status == 0
        lines = _text(listed.stdout).splitlines()
        ipt_ours = f"-N {CHAIN}" in lines
        ipt_rules = ipt_ok and any(
            not line.startswith("-P ") or not line.endswith(" ACCEPT") for line in lines if line
        )
    for ok, backend, binary, why in (
        (nft_ours, "nft", nft, f"our table inet {TABLE} is there"),
        (ipt_ours, "iptables", ipt, f"our chain {CHAIN} is there"),
        (nft_rules, "nft", nft, "the host's nftables ruleset is in use"),
        (ipt_rules, "iptables", ipt, "the host's iptables has rules"),
        (nft_ok, "nft", nft, "no rules yet; nft is available"),
        (ipt_ok, "iptables", ipt, "no rules yet; iptables is available"),
    ):
        if ok:
            return backend, str(binary), why
    found = ", ".join(f"{k}={v}" for k, v in probe.items() if k != "ssh_connection" and v)
    raise ActionError(
        "no working firewall tool on the host (looked for "
        f"{', '.join(NFT + IPTABLES)}; found: {found or 'none'}); nothing was done"
    )


# -- actions -----------------------------------------------------------------------------------


class Block:
    id = "block"
    title = "Block address in the host firewall"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("address",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        net = parse_network(str(params.get("address", "")))
        probe = await call(ctx, SCRIPT, "probe", {}, timeout=30.0)
        operator = refuse_operator(net, probe)
        backend, binary, why = await choose_backend(
            ctx, probe, net, str(params.get("backend", "")).strip()
        )
        bid = new_id(self.id)
        comment = f"sickbay:{bid}"
        existing: list[str] = []
        if backend == "nft":
            rules, _, _ = await nft_list(ctx, binary)
            existing = [
                r.comment for r in rules if r.net == net and r.comment.startswith("sickbay:")
            ]
            commands = [nft_block(binary, net, comment)]
            verify = (
                f"{ctx.exec.host}: {shlex.join([binary, '-j', 'list', 'table', 'inet', TABLE])}"
            )
        else:
            exists, ipt_rules, jump_in, jump_out = await ipt_state(ctx, binary)
            existing = [
                r.comment for r in ipt_rules if r.net == net and r.comment.startswith("sickbay:")
            ]
            commands = []
            if not exists:
                commands.append(
                    Command(
                        f"create our chain {CHAIN}",
                        (binary, *WAIT, "-N", CHAIN),
                        (binary, *WAIT, "-X", CHAIN),
                    )
                )
            for chain, present in (("INPUT", jump_in), ("OUTPUT", jump_out)):
                if not present:
                    commands.append(
                        Command(
                            f"jump to {CHAIN} from the top of {chain}",
                            (binary, *WAIT, "-I", chain, "1", "-j", CHAIN),
                            (binary, *WAIT, "-D", chain, "-j", CHAIN),
                        )
                    )
            for field, word in (("-s", "from"), ("-d", "to")):
                rule = ipt_rule_args(net, field, comment)
                commands.append(
                    Command(
                        f"drop traffic {word} {net}",
                        (binary, *WAIT, "-A", CHAIN, *rule),
                        (binary, *WAIT, "-D", CHAIN, *rule),
                    )
                )
            verify = f"{ctx.exec.host}: {shlex.join([binary, *WAIT, '-S', CHAIN])}"
        steps = [
            PlannedStep(
                "find the firewall tools and sickbay's own SSH client address",
                f"{where(ctx)}: stat {', '.join(NFT + IPTABLES)}; read $SSH_CONNECTION",
            ),
            *(
                PlannedStep(
                    c.what + " (the host's binary, by absolute path)",
                    f"{ctx.exec.host}: {shlex.join(c.argv)}",
                )
                for c in commands
            ),
            PlannedStep("verify: list our rules back", verify),
        ]
        warnings = [f"backend {backend}: {why}", operator]
        if existing:
            ids = ", ".join(sorted({c.removeprefix("sickbay:") for c in existing}))
            warnings.append(f"{net} is already blocked by sickbay ({ids}): this adds another block")
        if net.is_loopback:
            warnings.append("this is a loopback network: local services talk over it")
        if net.num_addresses > (1 << 24 if net.version == 4 else 1 << 64):
            warnings.append(f"{net} is a very large network")
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{net} (in and out)",
            params={
                **params,
                "address": str(net),
                "id": bid,
                "backend": backend,
                "binary": binary,
                "commands": [
                    [c.what, list(c.argv), list(c.undo) if c.undo else None] for c in commands
                ],
            },
            steps=tuple(steps),
            risk=self.risk,
            undo=("unblock", {"address": str(net), "id": bid, "backend": backend}),
            warnings=tuple(warnings),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        net = parse_network(str(p["address"]))
        commands = _commands(p)
        said = await run_checked(ctx, commands)
        comment = f"sickbay:{p['id']}"
        binary, backend = str(p["binary"]), str(p["backend"])
        undo = ("unblock", {"address": str(net), "id": str(p["id"]), "backend": backend})
        if backend == "nft":
            rules, chains, _ = await nft_list(ctx, binary)
            mine = [r for r in rules if r.comment == comment and r.drop and r.net == net]
            have = {(r.chain, r.field) for r in mine}
            hooks = {n: (c.get("hook"), c.get("prio")) for n, c in chains.items()}
            ok = (
                have == {("input", "saddr"), ("output", "daddr")}
                and hooks.get("input")
                == (
                    "input",
                    PRIORITY,
                )
                and hooks.get("output") == ("output", PRIORITY)
            )
            verification = (
                f"nft -j list table inet {TABLE}: {len(mine)} rule(s) with {comment} "
                f"(handles {', '.join(str(r.handle) for r in mine) or 'none'}); chains "
                f"{', '.join(f'{n}: hook {h} prio {pr}' for n, (h, pr) in hooks.items())}"
            )
            details: dict[str, Any] = {"handles": [[r.chain, r.handle] for r in mine]}
        else:
            exists, ipt_rules, jump_in, jump_out = await ipt_state(ctx, binary)
            found = [r for r in ipt_rules if r.comment == comment and r.drop and r.net == net]
            fields = {r.field for r in found}
            ok = exists and jump_in and jump_out and fields == {"-s", "-d"}
            verification = (
                f"iptables -S {CHAIN}: {len(found)} rule(s) with {comment}; INPUT jumps to "
                f"{CHAIN}: {'yes' if jump_in else 'NO'}; OUTPUT: {'yes' if jump_out else 'NO'}"
            )
            details = {"rules": [list(r.args) for r in found]}
        if said:
            verification += "; the tool said: " + " | ".join(said)
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"blocked {net} in and out ({backend})" if ok else f"{net} may not be fully blocked",
            verification=verification,
            state="" if ok else "rules applied but not all read back: check the firewall",
            details={"id": p["id"], "backend": backend, **details},
            undo=undo,
        )


def _commands(params: Mapping[str, Any]) -> list[Command]:
    out = []
    for what, argv, undo in params.get("commands") or []:
        out.append(
            Command(str(what), tuple(map(str, argv)), tuple(map(str, undo)) if undo else None)
        )
    if not out:
        raise ActionError("the plan has no commands; nothing was done")
    return out


class Unblock:
    id = "unblock"
    title = "Remove a sickbay block from the host firewall"
    risk = Risk.REVERSIBLE
    params: tuple[str, ...] = ("address",)

    async def plan(self, ctx: ActionContext, params: Mapping[str, str]) -> ActionPlan:
        net = parse_network(str(params.get("address", "")))
        bid = str(params.get("id", "")).strip()
        wanted = str(params.get("backend", "")).strip()
        probe = await call(ctx, SCRIPT, "probe", {}, timeout=30.0)

        def ours(comment: str, rule_net: Network | None) -> bool:
            if bid:
                return comment == f"sickbay:{bid}" and rule_net == net
            return comment.startswith("sickbay:") and rule_net == net

        commands: list[Command] = []
        backend = ""
        nft = probe.get("nft")
        if nft and wanted in ("", "nft"):
            rules, _, _ = await nft_list(ctx, str(nft))
            mine = [r for r in rules if ours(r.comment, r.net)]
            if mine:
                backend = "nft"
                parts = [f"delete rule inet {TABLE} {r.chain} handle {r.handle}" for r in mine]
                if len(mine) == len(rules):
                    parts.append(f"delete table inet {TABLE}")
                commands.append(
                    Command(
                        "delete our rules"
                        + (" and our (now empty) table" if len(mine) == len(rules) else "")
                        + " (one transaction)",
                        (str(nft), "; ".join(parts)),
                    )
                )
        ipt = probe.get("iptables" if net.version == 4 else "ip6tables")
        if not backend and ipt and wanted in ("", "iptables"):
            _, rules_i, jump_in, jump_out = await ipt_state(ctx, str(ipt))
            mine_i = [r for r in rules_i if ours(r.comment, r.net)]
            if mine_i:
                backend = "iptables"
                binary = str(ipt)
                for rule in mine_i:
                    commands.append(
                        Command(
                            "delete our rule",
                            (binary, *WAIT, "-D", CHAIN, *rule.args),
                            (binary, *WAIT, "-A", CHAIN, *rule.args),
                        )
                    )
                if len(mine_i) == len(rules_i):
                    for chain, present in (("INPUT", jump_in), ("OUTPUT", jump_out)):
                        if present:
                            commands.append(
                                Command(
                                    f"remove the jump from {chain}",
                                    (binary, *WAIT, "-D", chain, "-j", CHAIN),
                                    (binary, *WAIT, "-I", chain, "1", "-j", CHAIN),
                                )
                            )
                    commands.append(
                        Command(
                            f"delete our (now empty) chain {CHAIN}", (binary, *WAIT, "-X", CHAIN)
                        )
                    )
        if not commands:
            which = f" with id {visible(bid)}" if bid else ""
            raise ActionError(f"no sickbay rule blocks {net}{which}; nothing was done")
        steps = [
            PlannedStep(
                c.what + " (the host's binary, by absolute path)",
                f"{ctx.exec.host}: {shlex.join(c.argv)}",
            )
            for c in commands
        ]
        steps.append(PlannedStep("verify: none of our rules for it is left", "list them back"))
        return ActionPlan(
            action=self.id,
            host=ctx.exec.host,
            subject=f"{net}" + (f" (block {visible(bid)})" if bid else " (every sickbay block)"),
            params={
                **params,
                "address": str(net),
                "backend": backend,
                "binary": commands[0].argv[0],
                "commands": [
                    [c.what, list(c.argv), list(c.undo) if c.undo else None] for c in commands
                ],
            },
            steps=tuple(steps),
            risk=self.risk,
            undo=("block", {"address": str(net), "backend": backend}),
        )

    async def execute(self, ctx: ActionContext, plan: ActionPlan) -> ActionResult:
        p = plan.params
        net = parse_network(str(p["address"]))
        bid = str(p.get("id", "")).strip()
        said = await run_checked(ctx, _commands(p))
        binary = str(p["binary"])

        def ours(comment: str, rule_net: Network | None) -> bool:
            if bid:
                return comment == f"sickbay:{bid}" and rule_net == net
            return comment.startswith("sickbay:") and rule_net == net

        if p["backend"] == "nft":
            rules, _, table = await nft_list(ctx, binary)
            left = [f"{r.chain} handle {r.handle}" for r in rules if ours(r.comment, r.net)]
            where_ = f"table inet {TABLE} " + ("still there" if table else "removed")
        else:
            exists, rules_i, jump_in, jump_out = await ipt_state(ctx, binary)
            left = [" ".join(r.args) for r in rules_i if ours(r.comment, r.net)]
            where_ = f"chain {CHAIN} " + ("still there" if exists else "removed")
            if not exists and (jump_in or jump_out):
                left.append("a jump to the removed chain")
        ok = not left
        verification = f"our rules for {net} left: {len(left)}; {where_}"
        if said:
            verification += "; the tool said: " + " | ".join(said)
        return ActionResult(
            Outcome.DONE if ok else Outcome.UNVERIFIED,
            f"unblocked {net}" if ok else f"{net} is still blocked by {len(left)} rule(s)",
            verification=verification,
            state="" if ok else "left: " + "; ".join(visible(x) for x in left),
            details={"backend": p["backend"]},
            undo=("block", {"address": str(net), "backend": str(p["backend"])}),
        )


BLOCK, UNBLOCK = Block(), Unblock()
ACTIONS: tuple[HostAction, ...] = (BLOCK, UNBLOCK)
