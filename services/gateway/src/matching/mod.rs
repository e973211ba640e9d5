//! Matching: configs that map a job run's documents onto a reference dataset, runs of them
//! (queued here, matched in chunks by the matching workers), their results and reviews.

pub mod configs;
pub mod lifecycle;
pub mod models;
pub mod realtime;
pub mod review;
pub mod runs;
pub mod view;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    configs::configure(cfg);
    models::configure(cfg);
    realtime::configure(cfg);
    runs::configure(cfg);
}
