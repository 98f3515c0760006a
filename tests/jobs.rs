//! The web workers' message protocol and the solver pool's scheduler
//! (`elb::jobs`), natively: every message survives encode -> decode, a
//! truncated message is an error (not a panic), and the scheduler hands out
//! ranges, keeps data on workers, cancels, fails and orders results as the
//! page relies on. The solves themselves run here with the engine, so the
//! merged result is compared with one whole-phase solve.

use std::collections::BTreeMap;
use std::sync::Arc;

use elb::engine::algo;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{ingest, Algorithm, Dataset, Error, PhaseData, Settings};
use elb::engine::migration;
use elb::engine::Placement;
use elb::jobs::protocol::{decode, encode, Output, Reply, Request, Work};
use elb::jobs::scheduler::{left_ms, ranges, Event, Progress, Scheduler, WorkerId, Workers};

fn dataset(preset: Preset, format: SampleFormat) -> Dataset {
    ingest::read_files(&sample::generate(preset, format, 0)).expect("the sample parses")
}

fn small() -> (Arc<PhaseData>, Settings) {
    let ds = dataset(Preset::Small, SampleFormat::Series);
    let data = Arc::new(ds.phases.into_iter().next().expect("a phase"));
    let settings = Settings { cluster: sample::cluster_for(Preset::Small), ..Settings::default() };
    (data, settings)
}

fn with(settings: &Settings, algorithm: Algorithm) -> Settings {
    Settings { algorithm, ..settings.clone() }
}

/// `decode(encode(x))` encodes to the same bytes, and every shorter prefix
/// of them is refused with an error.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug>(msg: &T) -> T {
    let bytes = encode(msg).expect("encodes");
    let back: T = decode(&bytes).expect("decodes");
    assert_eq!(encode(&back).unwrap(), bytes, "{msg:?}: the same bytes after a round trip");
    assert_eq!(format!("{back:?}"), format!("{msg:?}"));
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        if cut < bytes.len() {
            assert!(decode::<T>(&bytes[..cut]).is_err(), "{cut} of {} bytes must not decode", bytes.len());
        }
    }
    back
}

#[test]
fn every_request_round_trips() {
    let (data, settings) = small();
    let load = round_trip(&Request::Load { job: 7, data: Some(data.clone()), work: Work::Solve(settings.clone()) });
    match load {
        Request::Load { job: 7, data: Some(d), work: Work::Solve(s) } => {
            assert_eq!(d.summed, data.summed);
            assert_eq!(d.series.as_ref().map(|s| &s.data), data.series.as_ref().map(|s| &s.data));
            assert_eq!(s, settings);
        }
        other => panic!("not a load: {other:?}"),
    }
    round_trip(&Request::Load { job: 1, data: None, work: Work::Solve(with(&settings, Algorithm::SpecMoe2)) });
    let current = Placement { layers: vec![vec![vec![0, 1], vec![2, 3]]; 2] };
    match round_trip(&Request::Load { job: 2, data: None, work: Work::Refine { current: current.clone(), targets: vec![1.5, 1.25] } }) {
        Request::Load { work: Work::Refine { current: c, targets }, .. } => {
            assert_eq!(c, current);
            assert_eq!(targets, vec![1.5, 1.25]);
        }
        other => panic!("not a refinement: {other:?}"),
    }
    round_trip(&Request::Run { job: u64::MAX, start: 3, end: 4 });
    round_trip(&Request::ParseFiles { paths: vec!["node0/decode_0.csv".into(), "model_gen_config.json".into()] });
    for preset in [Preset::Small, Preset::Qwen3, Preset::Dsv3, Preset::Kimi] {
        for format in [SampleFormat::Summed, SampleFormat::Series] {
            round_trip(&Request::ParseSample { preset, format });
        }
    }
}

#[test]
fn every_reply_round_trips() {
    let (data, settings) = small();
    let sol = algo::solve(&data, &settings, 0..data.layers, &mut |_| true).expect("solves");
    round_trip(&Reply::Ready);
    round_trip(&Reply::Progress { job: 2, start: 1, done: 1 });
    match round_trip(&Reply::Done { job: 2, start: 0, result: Ok(Output::Solved(sol.clone())) }) {
        Reply::Done { result: Ok(Output::Solved(back)), .. } => assert_eq!(back, sol),
        other => panic!("not a solution: {other:?}"),
    }
    let err = Error::param(elb::engine::error::Param::Npus, "must be at least 1");
    match round_trip(&Reply::Done { job: 2, start: 0, result: Err(err.clone()) }) {
        Reply::Done { result: Err(back), .. } => assert_eq!(back, err),
        other => panic!("not an error: {other:?}"),
    }
    round_trip(&Reply::Done { job: 2, start: 0, result: Err(Error::cancelled()) });
    // A refinement that makes moves (level 1's table towards level 2's).
    let current = Placement { layers: sol.layers.clone() };
    let best = algo::solve(&data, &with(&settings, Algorithm::SpecMoe2), 0..data.layers, &mut |_| true).expect("solves");
    let best = Placement { layers: best.layers };
    let targets = migration::targets(&current, &best, &data.summed, data.series.as_ref(), 0.0).expect("targets");
    let refined = migration::refine_to_targets(&current, &data.summed, data.series.as_ref(), &targets, 0).expect("refines");
    assert!(!refined.moves.is_empty(), "the case makes moves");
    // Moves are internally tagged (the CLI's JSON): bincode cannot read
    // them back, hence Output::refined, which leaves them out.
    let with_moves = encode(&Reply::Done { job: 3, start: 0, result: Ok(Output::Refined(refined.clone())) }).unwrap();
    assert!(decode::<Reply>(&with_moves).is_err());
    match round_trip(&Reply::Done { job: 3, start: 0, result: Ok(Output::refined(refined.clone())) }) {
        Reply::Done { result: Ok(Output::Refined(back)), .. } => {
            assert!(back.moves.is_empty());
            assert_eq!(back.placement, refined.placement);
            assert_eq!(back.layers, refined.layers);
            assert_eq!(back.slots_changed, refined.slots_changed);
            assert_eq!(back.slots_changed_per_device, refined.slots_changed_per_device);
        }
        other => panic!("not a refinement: {other:?}"),
    }
    round_trip(&Reply::FileRead { files: 3, bytes: 12345.0 });
    round_trip(&Reply::SeriesStart { phase: 1, len: 1 << 20 });
    round_trip(&Reply::SeriesPart);
    let ds = dataset(Preset::Small, SampleFormat::Summed);
    match round_trip(&Reply::Parsed(Box::new(Ok(ds.clone())))) {
        Reply::Parsed(r) => {
            let back = (*r).expect("a dataset");
            assert_eq!(back.phases.len(), ds.phases.len());
            assert_eq!(back.phases[0].summed, ds.phases[0].summed);
        }
        other => panic!("not parsed: {other:?}"),
    }
    round_trip(&Reply::Parsed(Box::new(Err(Error::msg("no decode_*.csv")))));
    round_trip(&Reply::Failed("internal error in the file parser".into()));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(decode::<Request>(&[]).is_err());
    assert!(decode::<Request>(&[9, 0, 0, 0]).is_err(), "an unknown variant");
    assert!(decode::<Reply>(&[0xff; 3]).is_err());
    let e = decode::<Reply>(&[200, 0, 0, 0]).unwrap_err();
    assert_eq!(e.kind, elb::engine::error::ErrorKind::Internal);
}

#[test]
fn ranges_split_slow_jobs_by_layer_and_others_a_few_per_worker() {
    assert_eq!(ranges(3, true, 2), vec![(0, 1), (1, 2), (2, 3)]);
    assert_eq!(ranges(58, false, 2), (0..58).step_by(10).map(|s| (s, (s + 10).min(58))).collect::<Vec<_>>());
    assert_eq!(ranges(2, false, 16), vec![(0, 1), (1, 2)]);
    assert_eq!(ranges(0, false, 4), vec![]);
    for (layers, slow, w) in [(1, false, 1), (61, false, 3), (61, true, 16), (7, false, 0)] {
        let rs = ranges(layers, slow, w);
        assert_eq!(rs.first().map(|r| r.0), Some(0));
        assert_eq!(rs.last().map(|r| r.1), Some(layers));
        assert!(rs.windows(2).all(|p| p[0].1 == p[1].0 && p[0].0 < p[0].1));
    }
}

/// Workers that record what the scheduler asks of them; the test plays
/// their part (ready, solve, fail).
#[derive(Default)]
struct Mock {
    spawned: Vec<WorkerId>,
    terminated: Vec<WorkerId>,
    posts: Vec<(WorkerId, Request)>,
    fail_spawn: bool,
}

impl Workers for Mock {
    fn spawn(&mut self, id: WorkerId) -> Result<(), Error> {
        if self.fail_spawn {
            return Err(Error::msg("no workers here"));
        }
        self.spawned.push(id);
        Ok(())
    }
    fn post(&mut self, id: WorkerId, req: &Request) {
        assert!(!self.terminated.contains(&id), "posted to terminated worker {id}");
        // What crosses the wire is the encoded message.
        self.posts.push((id, decode(&encode(req).unwrap()).unwrap()));
    }
    fn terminate(&mut self, id: WorkerId) {
        self.terminated.push(id);
    }
}

/// One worker's wasm instance: the data and settings it was sent.
#[derive(Default)]
struct Instance {
    data: Option<PhaseData>,
    job: Option<(u64, Work)>,
}

impl Instance {
    fn serve(&mut self, req: Request) -> Option<Reply> {
        match req {
            Request::Load { job, data, work } => {
                if let Some(d) = data {
                    self.data = Some(std::sync::Arc::unwrap_or_clone(d));
                }
                self.job = Some((job, work));
                None
            }
            Request::Run { job, start, end } => {
                let data = self.data.as_ref().expect("data before a run");
                let (j, work) = self.job.as_ref().expect("work before a run");
                assert_eq!(*j, job, "run of the job loaded last");
                let result = match work {
                    Work::Solve(settings) => algo::solve(data, settings, start..end, &mut |_| true).map(Output::Solved),
                    // As the page's worker does: one layer at a time.
                    Work::Refine { current, targets } => (start..end)
                        .map(|l| migration::refine_layer_range(current, &data.summed, data.series.as_ref(), targets, 0, l..l + 1))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|parts| Output::refined(migration::Refined::merge(parts))),
                };
                Some(Reply::Done { job, start, result })
            }
            other => panic!("not a solver request: {other:?}"),
        }
    }
}

fn finished(events: &[Event]) -> Vec<(u64, Result<Output, Error>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Finished(j, r) => Some((*j, r.clone())),
            Event::Progress(..) => None,
        })
        .collect()
}

/// Drive the pool: each step, every worker answers what it was sent, in
/// reverse order when `reverse` (so results come back out of order).
fn run(s: &mut Scheduler, mock: &mut Mock, reverse: bool) -> Vec<Event> {
    let mut instances: BTreeMap<WorkerId, Instance> = BTreeMap::new();
    let mut events = Vec::new();
    for id in mock.spawned.clone() {
        events.extend(s.on_reply(id, Reply::Ready, 0.0, mock));
    }
    let mut served = 0;
    loop {
        let mut replies = Vec::new();
        while served < mock.posts.len() {
            let (id, req) = mock.posts[served].clone();
            served += 1;
            if let Some(r) = instances.entry(id).or_default().serve(req) {
                replies.push((id, r));
            }
        }
        // Newly started workers say they are ready.
        for id in mock.spawned.clone() {
            if !instances.contains_key(&id) && !mock.terminated.contains(&id) {
                instances.insert(id, Instance::default());
                events.extend(s.on_reply(id, Reply::Ready, 1.0, mock));
            }
        }
        if replies.is_empty() && served == mock.posts.len() {
            return events;
        }
        if reverse {
            replies.reverse();
        }
        for (id, r) in replies {
            events.extend(s.on_reply(id, r, 2.0, mock));
        }
    }
}

#[test]
fn a_job_solved_in_ranges_equals_one_solve_in_any_reply_order() {
    let (data, settings) = small();
    for algorithm in [Algorithm::C2lb, Algorithm::SpecMoe2] {
        let s1 = with(&settings, algorithm);
        let whole = algo::solve(&data, &s1, 0..data.layers, &mut |_| true).expect("solves");
        for reverse in [false, true] {
            let mut s = Scheduler::new(2);
            let mut mock = Mock::default();
            let group = s.new_id();
            let (job, ev) = s.submit(group, data.clone(), Work::Solve(s1.clone()), 0.0, &mut mock);
            assert!(finished(&ev).is_empty());
            assert_eq!(mock.spawned.len(), 2, "two workers for a {}-layer job", data.layers);
            assert!(mock.posts.is_empty(), "nothing is posted before a worker is ready");
            let events = run(&mut s, &mut mock, reverse);
            let done = finished(&events);
            assert_eq!(done.len(), 1);
            assert_eq!(done[0].0, job);
            assert_eq!(done[0].1.as_ref().expect("solved"), &Output::Solved(whole.clone()), "{algorithm:?}, reverse {reverse}");
            assert_eq!(s.open_jobs(), 0);
            assert_eq!(s.live_workers(), 2, "idle workers stay");
            // Progress reaches the total and never goes back.
            let prog: Vec<usize> =
                events.iter().filter_map(|e| if let Event::Progress(_, p) = e { Some(p.done) } else { None }).collect();
            assert!(prog.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(prog.last(), Some(&data.layers));
        }
    }
}

#[test]
fn a_later_job_on_the_same_data_sends_only_its_settings() {
    let (data, settings) = small();
    let mut s = Scheduler::new(2);
    let mut mock = Mock::default();
    let g = s.new_id();
    s.submit(g, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    run(&mut s, &mut mock, false);
    let loads_with_data = |m: &Mock| m.posts.iter().filter(|(_, r)| matches!(r, Request::Load { data: Some(_), .. })).count();
    assert_eq!(loads_with_data(&mock), 2, "each worker gets the data once");
    let before = mock.posts.len();
    let g2 = s.new_id();
    let (_, _) = s.submit(g2, data.clone(), Work::Solve(with(&settings, Algorithm::SpecMoe1)), 0.0, &mut mock);
    let events = run(&mut s, &mut mock, false);
    assert_eq!(finished(&events).len(), 1);
    assert!(finished(&events)[0].1.is_ok());
    assert_eq!(loads_with_data(&mock), 2, "no data sent again");
    assert!(mock.posts[before..].iter().any(|(_, r)| matches!(r, Request::Load { data: None, .. })));
    assert_eq!(mock.spawned.len(), 2, "no new worker");
}

#[test]
fn prewarmed_workers_hold_the_data_so_a_job_on_it_sends_only_its_settings() {
    let (data, settings) = small();
    let loads_with_data = |m: &Mock| m.posts.iter().filter(|(_, r)| matches!(r, Request::Load { data: Some(_), .. })).count();
    let mut s = Scheduler::new(2);
    let mut mock = Mock::default();
    s.prewarm(data.clone(), Work::Solve(Settings::default()), &mut mock);
    assert_eq!(mock.spawned.len(), 2, "the workers start before any job");
    assert!(mock.posts.is_empty(), "nothing is posted before a worker is ready");
    let events = run(&mut s, &mut mock, false);
    assert!(events.is_empty(), "no job, no event");
    assert_eq!(loads_with_data(&mock), 2, "each worker gets the data once");
    // The same data again: nothing to send, no worker to start.
    let before = mock.posts.len();
    s.prewarm(data.clone(), Work::Solve(Settings::default()), &mut mock);
    assert_eq!((mock.posts.len(), mock.spawned.len()), (before, 2));
    // A job on it: only its settings cross, and the table is one solve's.
    let s1 = with(&settings, Algorithm::SpecMoe2);
    let whole = algo::solve(&data, &s1, 0..data.layers, &mut |_| true).expect("solves");
    let g = s.new_id();
    let (job, _) = s.submit(g, data.clone(), Work::Solve(s1), 0.0, &mut mock);
    let done = finished(&run(&mut s, &mut mock, true));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, job);
    assert_eq!(done[0].1.as_ref().expect("solved"), &Output::Solved(whole));
    assert_eq!((loads_with_data(&mock), mock.spawned.len()), (2, 2), "no data sent again, no new worker");
    // New data (another phase object): the idle workers are sent it.
    let (other, _) = small();
    s.prewarm(other, Work::Solve(Settings::default()), &mut mock);
    run(&mut s, &mut mock, false);
    assert_eq!((loads_with_data(&mock), mock.spawned.len()), (4, 2));
    // A one-layer phase starts one worker at most.
    let mut s = Scheduler::new(4);
    let mut mock = Mock::default();
    let one = Arc::new(PhaseData { layers: 1, ..(*data).clone() });
    s.prewarm(one, Work::Solve(Settings::default()), &mut mock);
    assert_eq!(mock.spawned.len(), 1);
    // A phase without layers: nothing is started or sent.
    run(&mut s, &mut mock, false);
    let before = mock.posts.len();
    let none = Arc::new(PhaseData { layers: 0, ..(*data).clone() });
    s.prewarm(none, Work::Solve(Settings::default()), &mut mock);
    assert_eq!((mock.spawned.len(), mock.posts.len()), (1, before));
    // A worker that cannot start is left to the next job to report.
    let mut s = Scheduler::new(2);
    let mut mock = Mock { fail_spawn: true, ..Mock::default() };
    s.prewarm(data, Work::Solve(Settings::default()), &mut mock);
    assert_eq!((s.live_workers(), mock.posts.len()), (0, 0));
}

#[test]
fn cancel_drops_queued_ranges_and_terminates_busy_workers() {
    let (data, settings) = small();
    let mut s = Scheduler::new(2);
    let mut mock = Mock::default();
    let g = s.new_id();
    let other = s.new_id();
    let (job, _) = s.submit(g, data.clone(), Work::Solve(with(&settings, Algorithm::SpecMoe2)), 0.0, &mut mock);
    for id in mock.spawned.clone() {
        s.on_reply(id, Reply::Ready, 0.0, &mut mock);
    }
    assert_eq!(mock.posts.iter().filter(|(_, r)| matches!(r, Request::Run { .. })).count(), 2);
    let events = s.cancel(other, &mut mock);
    assert!(events.is_empty(), "another group's cancel changes nothing");
    let events = s.cancel(g, &mut mock);
    let done = finished(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, job);
    assert!(done[0].1.as_ref().unwrap_err().is_cancelled());
    assert_eq!(mock.terminated.len(), 2, "both busy workers stop at once");
    assert_eq!(s.live_workers(), 0);
    assert_eq!(s.open_jobs(), 0);
    // A late reply of a terminated worker is ignored.
    let late = s.on_reply(mock.spawned[0], Reply::Done { job, start: 0, result: Err(Error::cancelled()) }, 0.0, &mut mock);
    assert!(late.is_empty());
    // The pool works on afterwards, with new workers.
    let g3 = s.new_id();
    s.submit(g3, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    let events = run(&mut s, &mut mock, false);
    assert!(finished(&events)[0].1.is_ok());
}

#[test]
fn a_failed_range_fails_its_job_only() {
    let (data, settings) = small();
    let mut s = Scheduler::new(1);
    let mut mock = Mock::default();
    let (g1, g2) = (s.new_id(), s.new_id());
    let (j1, _) = s.submit(g1, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    let (j2, _) = s.submit(g2, data.clone(), Work::Solve(with(&settings, Algorithm::SpecMoe1)), 0.0, &mut mock);
    let w = mock.spawned[0];
    s.on_reply(w, Reply::Ready, 0.0, &mut mock);
    let boom = Error::msg("internal error in the solver (please report it): boom");
    let events = s.on_reply(w, Reply::Done { job: j1, start: 0, result: Err(boom.clone()) }, 0.0, &mut mock);
    let done = finished(&events);
    assert_eq!(done, vec![(j1, Err(boom))]);
    assert_eq!(mock.terminated, vec![w], "the failed instance is retired");
    assert_eq!(mock.spawned.len(), 2, "a new worker takes the other job");
    let events = run(&mut s, &mut mock, false);
    let done = finished(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, j2);
    assert!(done[0].1.is_ok());
}

#[test]
fn a_crashed_worker_fails_its_job_and_a_worker_that_cannot_start_fails_the_queue_head() {
    let (data, settings) = small();
    let mut s = Scheduler::new(1);
    let mut mock = Mock::default();
    let g = s.new_id();
    let (j, _) = s.submit(g, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    let w = mock.spawned[0];
    // A worker that fails before it is ready (its wasm did not load) fails
    // the range it was given.
    let events = s.on_failed(w, "out of memory", &mut mock);
    let done = finished(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, j);
    assert!(done[0].1.as_ref().unwrap_err().message.contains("out of memory"));
    assert_eq!(mock.terminated, vec![w]);
    assert_eq!(s.live_workers(), 0);
    // An idle worker's crash fails nothing.
    let g = s.new_id();
    s.submit(g, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    run(&mut s, &mut mock, false);
    let idle = *mock.spawned.last().unwrap();
    assert!(finished(&s.on_failed(idle, "gone", &mut mock)).is_empty());
    assert_eq!(s.live_workers(), 0);

    let mut s = Scheduler::new(2);
    let mut mock = Mock { fail_spawn: true, ..Mock::default() };
    let g = s.new_id();
    let (j, events) = s.submit(g, data.clone(), Work::Solve(settings.clone()), 0.0, &mut mock);
    assert_eq!(finished(&events), vec![(j, Err(Error::msg("no workers here")))]);
    assert_eq!(s.open_jobs(), 0);
}

#[test]
fn an_empty_phase_finishes_at_once_and_a_parser_message_is_refused() {
    let (data, settings) = small();
    let mut empty = (*data).clone();
    empty.layers = 0;
    let mut s = Scheduler::new(2);
    let mut mock = Mock::default();
    let (j, events) = s.submit(1, Arc::new(empty), Work::Solve(settings.clone()), 0.0, &mut mock);
    let done = finished(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, j);
    assert_eq!(done[0].1.as_ref().unwrap().layers(), 0);
    assert!(mock.spawned.is_empty());

    let (j, _) = s.submit(2, data, Work::Solve(settings), 0.0, &mut mock);
    let w = mock.spawned[0];
    s.on_reply(w, Reply::Ready, 0.0, &mut mock);
    let events = s.on_reply(w, Reply::SeriesPart, 0.0, &mut mock);
    let done = finished(&events);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, j);
    assert!(done[0].1.is_err());
    assert!(mock.terminated.contains(&w));
}

#[test]
fn time_left_is_at_the_rate_so_far() {
    assert_eq!(left_ms(1000.0, 0, 10), None);
    assert_eq!(left_ms(1000.0, 2, 10), Some(4000.0));
    assert_eq!(left_ms(1000.0, 10, 10), Some(0.0));
    assert_eq!(left_ms(f64::NAN, 1, 2), None);
    assert_eq!(left_ms(-1.0, 1, 2), None);
    assert_eq!(Progress { done: 1, total: 4, elapsed_ms: 30.0 }.left_ms(), Some(90.0));
}

#[test]
fn the_migration_aware_refinement_in_ranges_equals_one_call() {
    let (data, settings) = small();
    let solve = |a| algo::solve(&data, &with(&settings, a), 0..data.layers, &mut |_| true).expect("solves");
    let current = Placement { layers: solve(Algorithm::C2lb).layers };
    let best = Placement { layers: solve(Algorithm::SpecMoe2).layers };
    let series = data.series.as_ref();
    let targets = migration::targets(&current, &best, &data.summed, series, 0.02).expect("targets");
    let whole = migration::refine_to_targets(&current, &data.summed, series, &targets, 0).expect("refines");
    let towards = migration::refine_towards(&current, &best, &data.summed, series, &migration::RefineOptions::default()).unwrap();
    assert_eq!(whole, towards, "the targets are those of the CLI's --migration-aware");
    for reverse in [false, true] {
        let mut s = Scheduler::new(3);
        let mut mock = Mock::default();
        let g = s.new_id();
        let work = Work::Refine { current: current.clone(), targets: targets.clone() };
        let (job, _) = s.submit(g, data.clone(), work, 0.0, &mut mock);
        assert_eq!(mock.spawned.len(), 3, "single layers, one per worker");
        let events = run(&mut s, &mut mock, reverse);
        assert_eq!(finished(&events), vec![(job, Ok(Output::refined(whole.clone())))]);
    }
    assert!(migration::targets(&current, &best, &data.summed, series, -1.0).is_err());
    assert!(migration::targets(&current, &best, &data.summed, series, f64::NAN).is_err());
}

#[test]
fn a_share_link_to_encode_crosses_to_a_worker_and_back_the_same() {
    // The page hands the share payload to a worker, which answers with the fragment.
    let link = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/share/v2-small-series-al3.link")).unwrap();
    let fragment = link.trim();
    let fragment = &fragment[fragment.find('#').unwrap_or(0)..];
    let shared = elb::engine::share_link::decode(fragment).expect("the v2 fixture decodes");
    match round_trip(&Request::EncodeShare(Box::new(shared.clone()))) {
        Request::EncodeShare(back) => {
            assert_eq!(*back, shared);
            let made = elb::engine::share_link::encode(&back).unwrap();
            assert_eq!(elb::engine::share_link::decode(&made).unwrap(), shared, "the worker's fragment opens as the same view");
            match round_trip(&Reply::Encoded(Ok(made.clone()))) {
                Reply::Encoded(Ok(f)) => assert_eq!(f, made),
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_share_link_or_file_to_open_crosses_to_a_worker_and_back_the_same() {
    // The page hands the fragment (or a share file's text) to a worker, which
    // answers with what it carries.
    let link = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/share/v2-small-series-al3.link")).unwrap();
    let fragment = link.trim();
    let fragment = fragment[fragment.find('#').unwrap_or(0)..].to_string();
    let shared = elb::engine::share_link::decode(&fragment).expect("the v2 fixture decodes");
    let file = elb::engine::share_link::share_file_text(&fragment);
    for (text, is_file) in [(fragment.clone(), false), (file, true)] {
        match round_trip(&Request::OpenShare { text: text.clone(), file: is_file }) {
            Request::OpenShare { text: t, file } => {
                assert_eq!((t.as_str(), file), (text.as_str(), is_file));
                let opened = elb::engine::share_link::open(&t, file);
                assert_eq!(opened.as_ref().ok(), Some(&shared), "the link and its share file open the same");
                match round_trip(&Reply::Opened(Box::new(opened))) {
                    Reply::Opened(back) => assert_eq!(*back, Ok(shared.clone())),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let bad = elb::engine::share_link::open("#run=2.AAAA", false).unwrap_err();
    match round_trip(&Reply::Opened(Box::new(Err(bad.clone())))) {
        Reply::Opened(back) => assert_eq!(*back, Err(bad)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_files_the_page_offers_are_made_in_a_worker_as_the_engine_writes_them() {
    use elb::engine::export::{self, ExportFormat, ExportOptions, PhaseReport};
    use elb::engine::model_preset;
    use elb::jobs::protocol::{FileJob, TableJob};
    let (data, settings) = small();
    let (_, sol) = algo::solve_all(&data, &settings, &mut |_| true).unwrap();
    let placement = Placement { layers: sol.layers.clone() };
    let table = TableJob { placement: placement.clone(), cluster: settings.cluster, experts: data.experts, msit_compat: false };
    let json = export::msit_table(&placement, &settings.cluster, data.experts, false).unwrap().0;
    assert!(export::msit_table_check(&placement, &settings.cluster, data.experts, false).unwrap().is_empty());
    // The table: the engine's msit JSON.
    let job = round_trip(&Request::MakeFile(Box::new(FileJob::Table(table.clone()))));
    let Request::MakeFile(job) = job else { panic!("{job:?}") };
    assert_eq!(job.make().unwrap(), json.clone().into_bytes());
    // An ecosystem export, with a model (its layout crosses by name).
    let model = model_preset::resolve(Some(model_preset::OTHER), Some(1), Some(data.layers + 1), data.layers, data.experts).unwrap();
    assert!(model.is_some());
    let opts = ExportOptions { model, mtp: false, msit_compat: false };
    for format in [ExportFormat::Msit, ExportFormat::Sglang, ExportFormat::Trtllm] {
        let Request::MakeFile(job) = round_trip(&Request::MakeFile(Box::new(FileJob::Export { format, table: table.clone(), opts }))) else {
            panic!()
        };
        let expected = if format == ExportFormat::Msit {
            json.clone()
        } else {
            export::render(format, &placement, data.experts, &settings.cluster, &opts).unwrap().text
        };
        assert_eq!(job.make().unwrap(), expected.into_bytes(), "{format:?}");
    }
    // Without a model the SGLang map is refused, as the CLI refuses it.
    let none = ExportOptions { model: None, mtp: false, msit_compat: false };
    assert!(FileJob::Export { format: ExportFormat::Sglang, table: table.clone(), opts: none }.make().is_err());
    // "Download all": the engine's archive of the same tables and report.
    let report = PhaseReport {
        phase: data.phase,
        settings: Some(settings.clone()),
        before_source: "default layout".into(),
        before: elb::engine::metrics::score(&data, &placement, &settings.cluster),
        after: None,
        slots_moved: None,
        replicas_added: None,
        seconds: None,
        warnings: vec![],
    };
    let name = data.phase.table_file_name();
    let bundle = FileJob::Bundle { tables: vec![(name.clone(), table)], reports: vec![report.clone()] };
    let Request::MakeFile(bundle) = round_trip(&Request::MakeFile(Box::new(bundle))) else { panic!() };
    assert_eq!(bundle.make().unwrap(), export::bundle_zip(&[(name, json)], &[report]).unwrap());
    match round_trip(&Reply::File(Ok(vec![1, 2, 3]))) {
        Reply::File(Ok(b)) => assert_eq!(b, vec![1, 2, 3]),
        other => panic!("{other:?}"),
    }
}
