"""Teach a softmax policy to balance a pole: REINFORCE on CartPole, written in NumPy here.

    python examples/reinforce.py                  # a few seconds; ends "mean return over the last 100 episodes: ..."
    python examples/reinforce.py --episodes 400 --seed 3

The policy is a small MLP whose two outputs are the scores of "push left" and "push right";
``softmax`` turns them into probabilities and ``distributions.Categorical`` samples an action.
REINFORCE raises the log-probability of each action taken in proportion to how much better than
usual the rest of its episode went (its return minus a baseline):

    loss = −Σₜ (Gₜ − bₜ) · log p(aₜ | sₜ)

and the gradient of log p(a) = log softmax(z)ₐ with respect to the scores z is

    ∇_z log p(a) = onehot(a) − softmax(z),

which is minus the cross-entropy gradient ``p − onehot(y)`` with the sampled action as the label.
So a policy-gradient step is a classifier's step towards the actions it took, weighted by
their advantage: cross-entropy's gradient again, where good actions are the labels.

The environment is the classic cart-pole of Barto, Sutton and Anderson (1983), with the constants
and termination rules of Gym's CartPole-v0: +1 reward per step, the episode ends when the pole
tilts past 12° or the cart leaves ±2.4, or after 200 steps. It counts as solved when the mean
return over 100 consecutive episodes reaches 195.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

# Tiny matrices: one BLAS thread is faster than several (see train_classifier.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import tinygrad_sm
from tinygrad_sm import Tensor, nn, optim
from tinygrad_sm.distributions import Categorical

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (the one-line error parser of the MLP example)
from train_classifier import OneLineErrorParser  # noqa: E402

SOLVED = 195.0  # CartPole-v0's threshold: mean return over 100 consecutive episodes


class CartPoles:
    """``n`` independent cart-poles stepped together (Gym's CartPole-v0 physics, Euler steps)."""

    gravity, cart_mass, pole_mass, half_pole_length = 9.8, 1.0, 0.1, 0.5
    force, dt, max_steps = 10.0, 0.02, 200
    angle_limit, position_limit = 12 * 2 * np.pi / 360, 2.4

    def __init__(self, n: int, rng: np.random.Generator):
        self.rng = rng
        self.state = rng.uniform(-0.05, 0.05, size=(n, 4))  # x, ẋ, θ, θ̇
        self.done = np.zeros(n, dtype=bool)
        self.steps = 0

    def step(self, action: np.ndarray) -> np.ndarray:
        """Push each running cart left (0) or right (1); returns the reward (1 while running)."""
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(action == 1, self.force, -self.force)
        total_mass = self.cart_mass + self.pole_mass
        pole_moment = self.pole_mass * self.half_pole_length
        cos, sin = np.cos(theta), np.sin(theta)
        temp = (force + pole_moment * theta_dot**2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_pole_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total_mass)
        )
        x_acc = temp - pole_moment * theta_acc * cos / total_mass
        new_state = np.stack(
            [x + self.dt * x_dot, x_dot + self.dt * x_acc, theta + self.dt * theta_dot,
             theta_dot + self.dt * theta_acc], axis=1,
        )
        reward = (~self.done).astype(np.float64)
        self.state = np.where(self.done[:, None], self.state, new_state)
        self.steps += 1
        fallen = (np.abs(self.state[:, 0]) > self.position_limit) | (np.abs(self.state[:, 2]) > self.angle_limit)
        self.done |= fallen | (self.steps >= self.max_steps)
        return reward


def run_episodes(policy, n: int, rng: np.random.Generator, record: bool):
    """Play ``n`` episodes at once. Returns each episode's return and, with ``record``, the
    log-probabilities of the actions taken (a list of (n,) Tensors, one per time step) and the
    rewards (steps, n)."""
    env = CartPoles(n, rng)
    log_probs, rewards = [], []
    while not env.done.all():
        if policy is None:  # the random policy, for comparison
            action = rng.integers(0, 2, size=n)
        else:
            with tinygrad_sm.enable_grad() if record else tinygrad_sm.no_grad():
                scores = policy(Tensor(env.state.astype(np.float32)))
                distribution = Categorical(logits=scores)
                action_tensor = distribution.sample(rng=rng)
                action = action_tensor.numpy()
                if record:
                    log_probs.append(distribution.log_prob(action_tensor))
        rewards.append(env.step(action))
    rewards = np.array(rewards)  # (steps, n); 0 after an episode ended
    return rewards.sum(axis=0), log_probs, rewards


def reinforce_loss(log_probs: list[Tensor], rewards: np.ndarray, gamma: float) -> Tensor:
    """−Σₜ Aₜ log p(aₜ), averaged over the episodes, with Aₜ = Gₜ − bₜ: the discounted return
    from step t on, minus its mean over the episodes still running at t, divided by the spread."""
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    alive = rewards > 0
    mean = returns.sum(axis=1, keepdims=True) / np.maximum(alive.sum(axis=1, keepdims=True), 1)
    advantages = np.where(alive, returns - mean, 0.0)
    advantages /= advantages[alive].std() + 1e-8
    terms = [(log_p * Tensor(advantages[t].astype(np.float32))).sum() for t, log_p in enumerate(log_probs)]
    return -Tensor.stack(terms).sum() / rewards.shape[1]


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(description="REINFORCE with a softmax policy on CartPole.")
    parser.add_argument("--episodes", type=int, default=3000, help="at most this many training episodes (default: 3000)")
    parser.add_argument("--batch", type=int, default=20, help="episodes per policy update (default: 20)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units of the policy (default: 32)")
    parser.add_argument("--lr", type=float, default=0.02, help="Adam learning rate (default: 0.02)")
    parser.add_argument("--gamma", type=float, default=0.99, help="discount factor (default: 0.99)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random draw (default: 0)")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.batch < 1 or args.hidden < 1 or not args.lr > 0 or not 0 < args.gamma <= 1:
        parser.error("--episodes, --batch, --hidden must be >= 1, --lr > 0 and --gamma in (0, 1]")

    init_rng, play_rng, random_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(3))
    random_returns, _, _ = run_episodes(None, 100, random_rng, record=False)
    policy = nn.Sequential(nn.Linear(4, args.hidden, rng=init_rng), nn.Tanh(), nn.Linear(args.hidden, 2, rng=init_rng))
    optimizer = optim.Adam(policy.parameters(), lr=args.lr)
    print(f"CartPole (solved at a mean return of {SOLVED:g} over 100 episodes); policy 4-{args.hidden}-2, "
          f"{args.batch} episodes per update, Adam lr={args.lr:g}, gamma={args.gamma:g}, seed {args.seed}")
    print(f"{'episodes':>9} {'mean return (last 100)':>23} {'seconds':>8}")

    history: list[float] = []
    start = time.perf_counter()
    update = 0
    while len(history) < args.episodes:
        returns, log_probs, rewards = run_episodes(policy, args.batch, play_rng, record=True)
        loss = reinforce_loss(log_probs, rewards, args.gamma)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.extend(returns.tolist())
        update += 1
        recent = float(np.mean(history[-100:]))
        if update % 10 == 0 or (len(history) >= 100 and recent >= SOLVED):
            print(f"{len(history):>9} {recent:>23.1f} {time.perf_counter() - start:>8.1f}")
        if len(history) >= 100 and recent >= SOLVED:
            print(f"solved after {len(history)} episodes")
            break
    recent = float(np.mean(history[-100:]))
    print(f"mean return over the last 100 episodes: {recent:.1f} (random policy: {random_returns.mean():.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
