# train.count_ops: true (issue 22) counts every step of a 2-rank run and changes nothing it
# trains. Every step's metrics line carries its operators per phase (the communication phase's
# too), its host syncs with the operators behind them, and its dispatches at any depth, never
# fewer than the operators in any phase; the losses equal those of the same run without counting,
# whose metrics carry no counts.
source "$(dirname "$0")/lib/common.sh"
make_data
for run in plain counted; do
  extra=()
  [[ $run == counted ]] && extra=(--set train.count_ops=true)
  mpi 2 train "${SMALL[@]}" --set train.max_steps=4 --set "run.dir=$WORK/$run" \
    --set train.micro_batch_size=4 "${extra[@]}" >"$WORK/$run.log" 2>&1 ||
    { cat "$WORK/$run.log"; exit 1; }
done
check "counting changes no loss" \
  $COMPARE metrics "$WORK/plain/metrics.jsonl" "$WORK/counted/metrics.jsonl" --rtol 0
check "every counted step carries its operators, host syncs and dispatches" /usr/bin/python3 -c "
import json
phases = ['other', 'forward', 'backward', 'optimizer', 'communication']
def steps(path):
    return [r for r in map(json.loads, open(path)) if 'loss' in r and 'eval_ce' not in r]
counted = steps('$WORK/counted/metrics.jsonl')
assert len(counted) == 4, len(counted)
for row in counted:
    ops, syncs, dispatches = row['ops'], row['host_syncs'], row['dispatches']
    for phase in ['forward', 'backward', 'optimizer', 'communication']:
        assert ops[phase] > 0, (phase, ops)
    for phase in phases:
        assert dispatches[phase] >= ops[phase], (phase, ops, dispatches)
    assert ops['total'] == sum(ops[p] for p in phases), ops
    assert dispatches['total'] > ops['total'], (ops, dispatches)
    assert syncs['total'] >= 1 and sum(row['host_sync_operators'].values()) == syncs['total'], row
for row in steps('$WORK/plain/metrics.jsonl'):
    assert not {'ops', 'host_syncs', 'dispatches'} & row.keys(), sorted(row)
"
