use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueueError {
    #[error("connecting to the broker at {url}: {source}")]
    Connect { url: String, source: lapin::Error },
    #[error("broker operation `{operation}` failed: {source}")]
    Broker {
        operation: &'static str,
        source: lapin::Error,
    },
    #[error(
        "the broker refused the message for exchange `{exchange}` with routing key `{routing_key}`"
    )]
    Nacked {
        exchange: String,
        routing_key: String,
    },
    #[error("no queue is bound to exchange `{exchange}` for routing key `{routing_key}`")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    #[error("the broker closed the consumer")]
    ConsumerClosed,
    #[error("the broker did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error(transparent)]
    Store(#[from] concord_models::StoreError),
}

impl QueueError {
    pub(crate) fn broker(operation: &'static str) -> impl FnOnce(lapin::Error) -> QueueError {
        move |source| QueueError::Broker { operation, source }
    }
}
