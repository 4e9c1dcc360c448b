#include "balance/weighted_random.h"

namespace plby::balance {
WeightedDraw::WeightedDraw(std::span<const Candidate> candidates)
    : eligible_(candidates), table_(EligibleWeights(candidates)) {}

}  // namespace plby::balance
