"""Numerical equivalence of recallbench's block "zoology" models with zoology (issue 17).

Loads the weights bench/export-weights.ts wrote for each case into bench/zoology_port.py's LanguageModel, runs the
same batch (eval mode, fp32), and compares the logits, the loss (nn.CrossEntropyLoss, labels -100 outside the
supervised rows) and the gradient of every parameter. Prints a markdown table: case x forward / loss / gradients,
each the max relative error max|a - b| / max|b| (per tensor, then the largest over tensors).

    python3 bench/zoology_equiv.py .scratch-a/equiv [--device cpu|cuda] [--json OUT.json]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zoology_port import build_model  # noqa: E402


def rel(a, b):
    return ((a - b).abs().max() / (b.abs().max() + 1e-30)).item()


def to_torch(values, entry, target_shape):
    """A recallbench tensor (and its gradient) in the layout of the torch parameter (or of its part)."""
    t = values.reshape(entry["shape"])
    tr = entry["transform"]
    op = tr["op"]
    if op == "copy":
        return t.reshape(target_shape)
    if op == "linear":
        return t.T
    if op == "linear_cols":
        return t[:, tr["start"] : tr["start"] + tr["size"]].T
    if op == "vector_slice":
        return t[tr["start"] : tr["start"] + tr["size"]]
    if op == "conv":
        return t.T.unsqueeze(1)
    if op == "linear_perm_in":
        return t[torch.tensor(tr["perm"])].T
    if op == "complex_part":
        return t.reshape(target_shape[:-1])
    if op == "pad_last":
        return t.reshape(1, *t.shape)
    raise ValueError(op)


def part_of(param_tensor, entry):
    """The part of a torch tensor (value or grad) that one manifest entry covers."""
    op = entry["transform"]["op"]
    if op == "complex_part":
        return param_tensor[..., entry["transform"]["part"]]
    if op == "pad_last":
        return param_tensor[..., : entry["shape"][-1]]
    return param_tensor


def run_case(folder, device):
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    raw = open(os.path.join(folder, "tensors.bin"), "rb").read()
    data = torch.frombuffer(bytearray(raw), dtype=torch.float32)
    get = lambda offset, n: data[offset : offset + n].clone()
    cfg = manifest["config"]
    torch.manual_seed(0)
    model = build_model(manifest["case"], cfg["dModel"], cfg["nLayers"], cfg["vocabSize"], cfg["maxSeqLen"], cfg["positionEmbeddings"], cfg["mlp"])
    params = dict(model.named_parameters())
    loaded = set()
    with torch.no_grad():
        for e in manifest["params"]:
            if e["torch"] not in params:
                raise KeyError(f"{manifest['case']}: zoology has no parameter {e['torch']} (from {e['name']})")
            p = params[e["torch"]]
            n = int(torch.tensor(e["shape"]).prod().item()) if e["shape"] else 1
            value = to_torch(get(e["value"], n), e, tuple(p.shape))
            part_of(p.data, e).copy_(value)
            loaded.add(e["torch"])
    torch_only = sorted(n for n in set(params) - loaded if params[n].requires_grad)
    model.to(device).eval()
    B, T, V = manifest["logits"]["shape"]
    tokens = torch.tensor(manifest["tokens"], dtype=torch.long, device=device).reshape(B, T)
    labels = torch.full((B * T,), -100, dtype=torch.long, device=device)
    labels[torch.tensor(manifest["rows"], device=device)] = torch.tensor(manifest["labels"], device=device)
    logits = model(tokens)
    loss = torch.nn.CrossEntropyLoss()(logits.reshape(-1, V), labels)
    loss.backward()

    ts_logits = get(manifest["logits"]["offset"], B * T * V).reshape(B, T, V)
    forward_err = rel(logits.detach().cpu(), ts_logits)
    loss_err = abs(loss.item() - manifest["loss"]) / abs(loss.item())
    grad_errs = []
    for e in manifest["params"]:
        p = params[e["torch"]]
        n = int(torch.tensor(e["shape"]).prod().item()) if e["shape"] else 1
        ts_grad = to_torch(get(e["grad"], n), e, tuple(p.shape))
        torch_grad = part_of(p.grad.detach().cpu(), e)
        grad_errs.append((rel(ts_grad.reshape(torch_grad.shape), torch_grad), f"{e['torch']}" + (f"[{e['transform']['op']}]" if e["transform"]["op"] in ("complex_part", "pad_last", "linear_cols", "vector_slice") else "")))
    worst = max(grad_errs)
    torch_only_grads = {name: params[name].grad.abs().max().item() if params[name].grad is not None else 0.0 for name in torch_only}
    return {
        "case": manifest["case"],
        "zoology": manifest["zoology"],
        "forward": forward_err,
        "loss": loss_err,
        "gradients": worst[0],
        "worst_gradient": worst[1],
        "compared": len(grad_errs),
        "torch_only": torch_only_grads,
        "loss_value": loss.item(),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    results = []
    for name in sorted(os.listdir(args.folder)):
        if os.path.exists(os.path.join(args.folder, name, "manifest.json")):
            try:
                results.append(run_case(os.path.join(args.folder, name), args.device))
            except Exception as ex:  # one broken case must not hide the others
                results.append({"case": name, "error": f"{type(ex).__name__}: {ex}"})
    print(f"torch {torch.__version__}, device {args.device}, fp32\n")
    print("| mixer (zoology module) | forward (logits) | loss | gradients (max over params) | worst gradient | zoology-only params (max abs grad) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['case']} | error: {r['error']} | | | | |")
            continue
        extra = ", ".join(f"{k} ({v:.2e})" for k, v in r["torch_only"].items()) or "none"
        print(f"| {r['case']} ({r['zoology']}) | {r['forward']:.2e} | {r['loss']:.2e} | {r['gradients']:.2e} ({r['compared']} tensors) | {r['worst_gradient']} | {extra} |")
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
