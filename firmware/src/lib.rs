#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![doc = include_str!("../README.md")]

pub mod event;
pub mod monitor;
pub mod nmea;
pub mod seal;
pub mod text;
pub mod time;
pub mod ubx;
