#pragma once
// One trial of an AutoML run as it is reported and stored (the trials table of a Model object).
#include <cstddef>
#include <optional>
#include <string>

#include "search_space.hpp"

namespace tailor::automl {

// One trial as the run saw it.
struct trial_record {
  std::size_t id = 0;
  trial_config config;
  std::string backbone;
  std::string description;
  int epochs = 0, rung = 0;  // epochs planned (the configuration's)
  int epochs_trained = 0;    // epochs that ran, after the replans (the fewest of the folds); 0: none
  bool opening = false;  // the defaults' long first run of a short budget (not the strategy's)
  std::optional<std::size_t> promoted_from;
  double cost = 0;      // budget units charged (0 for a system failure: retried free)
  double seconds = 0;   // busy seconds on this machine
  double score = 0;     // validation score (mean over folds)
  // completed | diverged | stopped (budget) | cancelled | skipped (budget) | failed (system)
  std::string outcome;
  std::string message;  // why it diverged, failed or was skipped
  int attempts = 1;
};

}  // namespace tailor::automl
