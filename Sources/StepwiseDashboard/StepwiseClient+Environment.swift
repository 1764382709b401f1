import Stepwise

extension StepwiseClient {
    /// A client of the same app on the same store with `configuration` (another environment):
    /// it holds no functions, so its sends and cancels only store, for the workers serving
    /// that environment. The REST API makes its clients for `x-inngest-env` the same way.
    func inEnvironment(_ configuration: Configuration) -> StepwiseClient {
        StepwiseClient(id: id, store: store, configuration: configuration, logger: logger)
    }
}
