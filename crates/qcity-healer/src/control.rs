//! The healer's handle on the engine: what it reads, what it publishes, and the one way it
//! acts on a runner, as the faces do. The engine implements it; nothing else of the engine
//! is the healer's business.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use qcity_config::Config;
use qcity_engine::bus::Bus;
use qcity_engine::datadir::DataDir;
use qcity_engine::supervisor::runner::RunnerPlan;
use qcity_engine::{Engine, EngineError};
use qcity_types::{ControlAction, RunnerState, RunnerStatus};

/// A future of the engine's that the healer awaits (boxed, so that `Control` is a trait
/// object).
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the healer needs of the engine.
pub trait Control: Send + Sync {
    /// The bus: where failures come from and every heal step goes.
    fn bus(&self) -> &Arc<Bus>;
    /// The configuration applied now (the runners' `heal` settings, `device.healer`).
    fn config(&self) -> Config;
    /// Where the store is, and where a clean puts what it moves aside.
    fn data_dir(&self) -> &DataDir;
    /// Every runner's status.
    fn status(&self) -> Vec<RunnerStatus>;
    /// How `runner` is started now (its working dir and environment, for heal commands).
    fn plan(&self, runner: &str) -> Option<RunnerPlan>;
    /// The last `n` lines of `runner`'s output.
    fn logs(&self, runner: &str, n: usize) -> Result<Vec<String>, EngineError>;
    /// Sets environment variables on `runner`'s next runs; false when it is gone.
    fn set_heal_env(&self, runner: &str, vars: &BTreeMap<String, String>) -> bool;
    /// A control action as `actor`, done and durable when the future ends.
    fn control<'a>(
        &'a self,
        actor: &'a str,
        action: ControlAction,
        runner: &'a str,
    ) -> Pending<'a, Result<RunnerState, EngineError>>;
}

impl Control for Engine {
    fn bus(&self) -> &Arc<Bus> {
        Engine::bus(self)
    }

    fn config(&self) -> Config {
        Engine::config(self)
    }

    fn data_dir(&self) -> &DataDir {
        Engine::data_dir(self)
    }

    fn status(&self) -> Vec<RunnerStatus> {
        Engine::status(self)
    }

    fn plan(&self, runner: &str) -> Option<RunnerPlan> {
        Engine::plan(self, runner)
    }

    fn logs(&self, runner: &str, n: usize) -> Result<Vec<String>, EngineError> {
        Engine::logs(self, runner, n)
    }

    fn set_heal_env(&self, runner: &str, vars: &BTreeMap<String, String>) -> bool {
        Engine::set_heal_env(self, runner, vars)
    }

    fn control<'a>(
        &'a self,
        actor: &'a str,
        action: ControlAction,
        runner: &'a str,
    ) -> Pending<'a, Result<RunnerState, EngineError>> {
        Box::pin(Engine::control(self, actor, action, runner))
    }
}
