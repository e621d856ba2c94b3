import csv, random, sys
src, dst, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = list(csv.reader(open(src, newline='')))
head, body = rows[0], rows[1:]
# leads are in created_at order: the first 70% are the training period
n_train = round(len(body) * 0.7)
outc = [head.index(c) for c in ("long_call", "test_drive", "store_visit", "outcome")]
order = list(range(n_train)); random.Random(seed).shuffle(order)
new = [r[:] for r in body]
for to, frm in zip(range(n_train), order):
    for c in outc:
        new[to][c] = body[frm][c]
w = csv.writer(open(dst, 'w', newline=''), lineterminator='\n')
w.writerow(head); w.writerows(new)
