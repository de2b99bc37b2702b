"""Records the teardown calls VLLMBackend.close() makes."""
import vllm


def destroy_model_parallel() -> None:
    vllm.record("destroy_model_parallel")


def destroy_distributed_environment() -> None:
    vllm.record("destroy_distributed_environment")
