//! Work on many threads, results in input order.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, sync_channel};

/// Runs `work` over `inputs` on `threads` threads (each with its own state from `state`) and
/// hands the results to `consume` in input order, so the output is the same as on one thread.
/// At most a few inputs per thread are in flight, so memory stays flat. `consume` returns
/// `Ok(false)` to stop early.
///
/// # Errors
///
/// The first error of `inputs` or `consume`; the other threads then stop.
pub fn ordered<T, R, W, E>(
    threads: usize,
    inputs: impl Iterator<Item = Result<T, E>>,
    state: impl Fn() -> W + Sync,
    work: impl Fn(&mut W, T) -> R + Sync,
    mut consume: impl FnMut(R) -> Result<bool, E>,
) -> Result<(), E>
where
    T: Send,
    R: Send,
{
    let threads = threads.max(1);
    let (task_tx, task_rx) = sync_channel::<(u64, T)>(threads * 2);
    let (done_tx, done_rx) = sync_channel::<(u64, R)>(threads * 2);
    let task_rx = Mutex::new(task_rx);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let (task_rx, state, work) = (&task_rx, &state, &work);
            scope.spawn(move || {
                let mut own = state();
                loop {
                    let next = task_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, input))) = next else { return };
                    if done_tx.send((seq, work(&mut own, input))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut pending = BTreeMap::new();
        let mut next_out = 0u64;
        let mut sent = 0u64;
        let mut drain = |pending: &mut BTreeMap<u64, R>,
                         next_out: &mut u64,
                         done_rx: &Receiver<(u64, R)>,
                         sent: u64,
                         until: u64|
         -> Result<bool, E> {
            // Take finished results until at most `until` are outstanding.
            while sent - *next_out > until {
                let Ok((seq, result)) = done_rx.recv() else { return Ok(false) };
                pending.insert(seq, result);
                while let Some(result) = pending.remove(next_out) {
                    *next_out += 1;
                    if !consume(result)? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        };
        let mut outcome = Ok(());
        let mut stopped = false;
        for input in inputs {
            let input = match input {
                Ok(input) => input,
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            };
            if task_tx.send((sent, input)).is_err() {
                break;
            }
            sent += 1;
            match drain(&mut pending, &mut next_out, &done_rx, sent, (threads * 2) as u64) {
                Ok(true) => {}
                Ok(false) => {
                    stopped = true;
                    break;
                }
                Err(err) => {
                    outcome = Err(err);
                    break;
                }
            }
        }
        drop(task_tx);
        if outcome.is_ok()
            && !stopped
            && let Err(err) = drain(&mut pending, &mut next_out, &done_rx, sent, 0)
        {
            outcome = Err(err);
        }
        // Whatever is left unconsumed (after a stop or an error) is dropped with the channel.
        drop(done_rx);
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order() {
        for threads in [1, 2, 7] {
            let mut out = Vec::new();
            let inputs = (0..1000u64).map(Ok::<_, ()>);
            ordered(
                threads,
                inputs,
                || 0u64,
                |calls, n| {
                    *calls += 1;
                    // Uneven work, so that threads finish out of order.
                    std::thread::sleep(std::time::Duration::from_micros((n * 7919) % 50));
                    n * 2
                },
                |r| {
                    out.push(r);
                    Ok(true)
                },
            )
            .expect("no error");
            assert_eq!(out, (0..1000).map(|n| n * 2).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn consume_can_stop_and_fail() {
        let mut seen = 0;
        ordered(
            2,
            (0..100).map(Ok::<_, &str>),
            || (),
            |_, n| n,
            |_| {
                seen += 1;
                Ok(seen < 10)
            },
        )
        .expect("no error");
        assert_eq!(seen, 10);
        let err = ordered(2, (0..100).map(Ok), || (), |_, n| n, |n| if n == 5 { Err("five") } else { Ok(true) });
        assert_eq!(err, Err("five"));
        let input_err =
            ordered(2, (0..10).map(|n| if n == 3 { Err("three") } else { Ok(n) }), || (), |_, n| n, |_| Ok(true));
        assert_eq!(input_err, Err("three"));
    }
}
