//! The model and the selection side by side: while the selection reads one
//! batch's activations on a thread of its own, the model computes the next.
//! Each of them alone leaves cores idle (libtorch between and inside its
//! smaller operations, the selection while the model runs), so overlapping
//! them fills those gaps; one batch waits at most, so memory stays flat.
use super::groups::{SourceBatch, WindowSpan};

/// One batch's windows and the activations of each unit source.
pub type BatchActivations = (Vec<WindowSpan>, Vec<SourceBatch>);

/// Runs `produce`, handing each batch it sends to `consume` on another
/// thread, in order; returns once both are done, with `produce`'s result.
/// Without any batch sent, `consume` never runs. Sending returns false once
/// `consume` has panicked, so that `produce` can stop at once; the panic is
/// then passed on.
pub fn overlapped<E>(
    produce: impl FnOnce(&mut dyn FnMut(BatchActivations) -> bool) -> Result<(), E>,
    mut consume: impl FnMut(BatchActivations) + Send,
) -> Result<(), E> {
    // A rendezvous: the model runs ahead by the one batch it is computing.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<BatchActivations>(0);
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || receiver.into_iter().for_each(&mut consume));
        // Fails only once the consumer has gone, i.e. panicked: the join
        // below passes that on.
        let mut send = move |batch| sender.send(batch).is_ok();
        let produced = produce(&mut send);
        drop(send);
        if let Err(panic) = consumer.join() {
            std::panic::resume_unwind(panic);
        }
        produced
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(index: u64) -> BatchActivations {
        (vec![(index, 1)], Vec::new())
    }

    #[test]
    fn every_batch_is_consumed_in_order_and_the_producers_error_returned() {
        let mut seen = Vec::new();
        let result: Result<(), &str> = overlapped(
            |send| {
                assert!((0..5).all(|i| send(batch(i))));
                Err("stopped")
            },
            |(windows, _)| seen.push(windows[0].0),
        );
        assert_eq!(result, Err("stopped"));
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_consumer_that_panics_stops_the_producer_and_the_panic_is_passed_on() {
        let mut sent = 0;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            overlapped::<()>(
                |send| {
                    while send(batch(sent)) {
                        sent += 1;
                        assert!(sent < 1000, "the producer was not stopped");
                    }
                    Ok(())
                },
                |_| panic!("selection failed"),
            )
        }));
        assert!(outcome.is_err());
        assert!(sent <= 2, "stopped after {sent} batches");
    }
}
