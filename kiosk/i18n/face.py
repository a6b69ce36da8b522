"""Texts of the face screen (人证核验): short, plain, said aloud as well as shown."""

FACE: dict[str, tuple[str, str]] = {
    "faceTitle": ("刷脸核验：确认是您本人", "Face check: is it really you?"),
    "faceIntro": ("请站在屏幕前，把脸放进椭圆框里", "Stand in front of the screen and put your face inside the oval"),
    "faceNoFace": ("请把脸放进椭圆框里", "Please put your face inside the oval"),
    "faceTooFar": ("请再靠近一点", "Please come a little closer"),
    "faceLook": ("请看着屏幕，不要动", "Look at the screen and keep still"),
    "faceTurnLeft": ("请慢慢向左转头", "Slowly turn your head to your left"),
    "faceTurnRight": ("请慢慢向右转头", "Slowly turn your head to your right"),
    "facePassed": ("核验通过，是您本人", "Check passed: it is you"),
    "faceRetryHint": ("请点“再试一次”", "Tap “Try again”"),
    "faceHelpHint": ("没关系，可以请工作人员帮忙，也可以继续办理，提交后到窗口核验身份",
                     "Never mind: a member of staff can help, or carry on and have your identity checked at the "
                     "counter"),
    "faceWhyMismatch": ("和身份证上的照片对不上。", "Your face does not match the photo on the ID card. "),
    "faceWhyLiveness": ("没有看到您转头。", "We did not see you turn your head. "),
    "faceWhyNoFace": ("没有看到您的脸。", "We could not see your face. "),
    "faceWhyNoPhoto": ("这张身份证的照片读不出来。", "The photo on this ID card could not be read. "),
    "faceWhyError": ("刷脸核验暂时不能用。", "The face check is not working right now. "),
    "faceRetry": ("再试一次", "Try again"),
    "faceCallStaff": ("呼叫工作人员", "Call staff"),
    "faceManual": ("继续办理，到窗口核验", "Carry on, check at the counter"),
    "faceFailures": ("已试 %1 次，共 3 次", "Tried %1 of 3 times"),
}
