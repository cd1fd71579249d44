// The program's detection side, compiled on its own (examples/detection_commands.cpp) so that the
// detector's training code builds in parallel with the rest of the program.
#pragma once
#include <string>
#include <vector>

#include <tailor/model/model.hpp>
#include <tailor/model/training.hpp>

namespace tailor_cli {

// Trains a detection Model: ASHA over MobileNetV3-Small and ResNet-18 detectors (FCOS-style, COCO
// mAP@[.50:.95] on a validation split) under the spec's compute budget.
tailor::model_object train_detector_model(const tailor::workspace& ws, const tailor::model_train_spec& spec);

// Finds objects in each image with a detection Model and prints them (text, or Azure's
// objectsResult with --json); with draw_to, writes a copy of the image with the boxes drawn
// (several images: draw_to names a folder, one file per image).
int analyze_objects(const tailor::workspace& ws, const std::string& model, const std::vector<std::string>& images, bool json,
                    double min_confidence, const std::string& draw_to);

}  // namespace tailor_cli
