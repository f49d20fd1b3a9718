//! Pool overhead without I/O: acquire + release of a no-op connection, every pool in every
//! cell of pool sizes {4, 16, 64} × tasks {1, 16, 256, 1024} × {no-hold, hold}, pools
//! interleaved within each cell.
//!
//! `cargo bench -p benches --bench overhead` (full), `-- --test` (smoke: each bench once),
//! `-- --quick`, or a filter such as `-- 'hold/size=4/'`; `BENCH_POOLS=ours,deadpool` limits
//! the pools. Hangs (qp in hold mode) are printed and written to `bench-results/overhead-hangs.json`.

use benches::competitors::{BenchPool, Visitor, for_each_pool};
use benches::grid::{self, Cell, Hang};
use criterion::{BenchmarkGroup, measurement::WallTime};

struct GridVisitor<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    cell: Cell,
    hangs: &'a mut Vec<Hang>,
}

impl Visitor for GridVisitor<'_, '_> {
    fn visit<P: BenchPool>(&mut self) {
        if !grid::selected(P::NAME) {
            return;
        }
        let size = self.cell.size;
        if let Some(hang) =
            grid::bench_pool::<P, _, _>(self.group, P::NAME, self.cell, || P::build(size))
        {
            self.hangs.push(hang);
        }
    }
}

fn main() {
    let mut criterion = grid::criterion();
    let mut hangs = Vec::new();
    for cell in Cell::all() {
        let mut group = criterion.benchmark_group(cell.group("overhead"));
        for_each_pool(&mut GridVisitor {
            group: &mut group,
            cell,
            hangs: &mut hangs,
        });
        group.finish();
    }
    criterion.final_summary();
    match benches::results::write("overhead-hangs", &hangs) {
        Ok(path) => eprintln!("hangs and failures: {}", path.display()),
        Err(e) => eprintln!("could not write the hang report: {e}"),
    }
}
