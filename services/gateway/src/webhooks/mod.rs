//! `/v1/webhooks`: the endpoints an organisation's events are delivered to (by the
//! webhook-sender service, signed as Standard Webhooks writes it), their delivery log and
//! manual redelivery. A URL must be http(s), and its host must not be (or resolve to) a private,
//! loopback, link-local, unspecified or multicast address unless the operator allows it
//! (`CONCORD_WEBHOOKS_ALLOW_PRIVATE_TARGETS`); the sender checks again at every attempt.

pub mod routes;
pub mod view;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::post().to(routes::create_webhook))
            .route(web::get().to(routes::list_webhooks)),
    )
    .service(
        web::resource("/webhooks/{id}")
            .route(web::get().to(routes::get_webhook))
            .route(web::patch().to(routes::update_webhook))
            .route(web::delete().to(routes::delete_webhook)),
    )
    .service(
        web::resource("/webhooks/{id}/deliveries").route(web::get().to(routes::list_deliveries)),
    )
    .service(
        web::resource("/webhooks/{id}/deliveries/{delivery_id}")
            .route(web::get().to(routes::get_delivery)),
    )
    .service(
        web::resource("/webhooks/{id}/deliveries/{delivery_id}/redeliver")
            .route(web::post().to(routes::redeliver)),
    );
}

impl crate::extract::Resource for concord_models::ids::WebhookEndpointId {
    const NAME: &'static str = "webhook";
}

impl crate::extract::Resource for concord_models::ids::WebhookDeliveryId {
    const NAME: &'static str = "webhook delivery";
}
